package tools

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type saleRow struct {
	Region  string  `json:"region"`
	Product string  `json:"product"`
	Units   int64   `json:"units"`
	Revenue float64 `json:"revenue"`
	cents   int64
}

type sales struct {
	byMonth map[string][]saleRow
	months  []string // sorted
	regions []string // sorted
}

var salesData = loadSales()

func loadSales() *sales {
	s := &sales{byMonth: map[string][]saleRow{}}
	for _, r := range readCSV("sales.csv") {
		c := cents(r["revenue_usd"])
		row := saleRow{Region: r["region"], Product: r["product"], Units: atoi(r["units"]), Revenue: amount(c), cents: c}
		if _, seen := s.byMonth[r["month"]]; !seen {
			s.months = append(s.months, r["month"])
		}
		s.byMonth[r["month"]] = append(s.byMonth[r["month"]], row)
		if !slices.Contains(s.regions, row.Region) {
			s.regions = append(s.regions, row.Region)
		}
	}
	slices.Sort(s.months)
	slices.Sort(s.regions)
	return s
}

func init() {
	register(Builtin{
		Name: "sales_report",
		Description: "Monthly sales report: units and revenue (USD) by region and product line, " +
			"with the change against the previous month. Data covers " + salesData.months[0] + " to " +
			salesData.months[len(salesData.months)-1] + ".",
		InputSchema: []byte(`{"type":"object","properties":{` +
			`"month":{"type":"string","pattern":"^[0-9]{4}-(0[1-9]|1[0-2])$","description":"The month, as YYYY-MM"},` +
			`"region":{"type":"string","enum":["` + strings.Join(salesData.regions, `","`) + `"],"description":"Only this region; all regions when omitted"}},` +
			`"required":["month"],"additionalProperties":false}`),
		run: salesReport,
	})
}

type regionTotal struct {
	Region  string  `json:"region"`
	Units   int64   `json:"units"`
	Revenue float64 `json:"revenue"`
	cents   int64
}

type salesReportOut struct {
	Month    string        `json:"month"`
	Region   string        `json:"region"` // a region, or "all"
	Currency string        `json:"currency"`
	Rows     []saleRow     `json:"rows"`
	ByRegion []regionTotal `json:"by_region"`
	Total    struct {
		Units   int64   `json:"units"`
		Revenue float64 `json:"revenue"`
	} `json:"total"`
	Previous *struct {
		Month     string  `json:"month"`
		Revenue   float64 `json:"revenue"`
		ChangePct float64 `json:"change_pct"`
	} `json:"previous_month,omitempty"`
}

func salesReport(_ context.Context, raw map[string]any) *mcp.CallToolResult {
	args, err := stringArgs(raw, []string{"month"}, "region")
	if err != nil {
		return errorResult(err.Error())
	}
	month, region := args["month"], args["region"]
	if !monthRE.MatchString(month) {
		return errorResult(fmt.Sprintf("month %q is not a month in the form YYYY-MM", month))
	}
	if region != "" && !slices.Contains(salesData.regions, region) {
		return errorResult(fmt.Sprintf("unknown region %q; the regions are %s", region, strings.Join(salesData.regions, ", ")))
	}
	rows, ok := salesData.byMonth[month]
	if !ok {
		return errorResult(fmt.Sprintf("no sales data for %s; the data covers %s to %s", month, salesData.months[0], salesData.months[len(salesData.months)-1]))
	}
	out := salesReportOut{Month: month, Region: "all", Currency: "USD", Rows: []saleRow{}}
	if region != "" {
		out.Region = region
	}
	var total int64
	for _, r := range rows {
		if region != "" && r.Region != region {
			continue
		}
		out.Rows = append(out.Rows, r)
		total += r.cents
		out.Total.Units += r.Units
		i := slices.IndexFunc(out.ByRegion, func(t regionTotal) bool { return t.Region == r.Region })
		if i < 0 {
			out.ByRegion = append(out.ByRegion, regionTotal{Region: r.Region})
			i = len(out.ByRegion) - 1
		}
		out.ByRegion[i].Units += r.Units
		out.ByRegion[i].cents += r.cents
		out.ByRegion[i].Revenue = amount(out.ByRegion[i].cents)
	}
	out.Total.Revenue = amount(total)
	if prev, ok := salesData.byMonth[prevMonth(month)]; ok {
		var pc int64
		for _, r := range prev {
			if region == "" || r.Region == region {
				pc += r.cents
			}
		}
		out.Previous = &struct {
			Month     string  `json:"month"`
			Revenue   float64 `json:"revenue"`
			ChangePct float64 `json:"change_pct"`
		}{prevMonth(month), amount(pc), math.Round(float64(total-pc)/float64(pc)*1000) / 10}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Sales report %s, %s, USD\n\n", month, map[bool]string{true: "all regions", false: "region " + region}[region == ""])
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Region\tProduct\tUnits\tRevenue\t")
	for _, r := range out.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t\n", r.Region, r.Product, r.Units, money(r.cents))
	}
	fmt.Fprintf(tw, "Total\t\t%d\t%s\t\n", out.Total.Units, money(total))
	tw.Flush()
	if out.Previous != nil {
		fmt.Fprintf(&b, "\nChange against %s: %+.1f%%\n", out.Previous.Month, out.Previous.ChangePct)
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: b.String()}},
		StructuredContent: out,
	}
}
