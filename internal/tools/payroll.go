package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type payslip struct {
	EmployeeID string  `json:"employee_id"`
	Name       string  `json:"name"`
	Department string  `json:"department"`
	Region     string  `json:"region"`
	Base       float64 `json:"base"`
	Bonus      float64 `json:"bonus"`
	Overtime   float64 `json:"overtime"`
	Gross      float64 `json:"gross"`

	base, bonus, overtime, gross int64 // cents
}

type payroll struct {
	byMonth map[string][]payslip
	months  []string
}

var payrollData = loadPayroll()

func loadPayroll() *payroll {
	p := &payroll{byMonth: map[string][]payslip{}}
	for _, r := range readCSV("payroll.csv") {
		base, bonus, ot := cents(r["base_usd"]), cents(r["bonus_usd"]), cents(r["overtime_usd"])
		s := payslip{EmployeeID: r["employee_id"], Name: r["name"], Department: r["department"], Region: r["region"],
			Base: amount(base), Bonus: amount(bonus), Overtime: amount(ot), Gross: amount(base + bonus + ot),
			base: base, bonus: bonus, overtime: ot, gross: base + bonus + ot}
		if _, seen := p.byMonth[r["month"]]; !seen {
			p.months = append(p.months, r["month"])
		}
		p.byMonth[r["month"]] = append(p.byMonth[r["month"]], s)
	}
	slices.Sort(p.months)
	return p
}

func init() {
	register(Builtin{
		Name: "payroll_report",
		Description: "Monthly payroll: gross pay (base, bonus, overtime; USD) per employee and per department. " +
			"Data covers " + payrollData.months[0] + " to " + payrollData.months[len(payrollData.months)-1] + ".",
		InputSchema: []byte(`{"type":"object","properties":{` +
			`"month":{"type":"string","pattern":"^[0-9]{4}-(0[1-9]|1[0-2])$","description":"The month, as YYYY-MM"}},` +
			`"required":["month"],"additionalProperties":false}`),
		run: payrollReport,
	})
}

type deptTotal struct {
	Department string  `json:"department"`
	Headcount  int     `json:"headcount"`
	Gross      float64 `json:"gross"`
	cents      int64
}

func payrollReport(_ context.Context, raw map[string]any) *mcp.CallToolResult {
	args, err := stringArgs(raw, []string{"month"})
	if err != nil {
		return errorResult(err.Error())
	}
	month := args["month"]
	if !monthRE.MatchString(month) {
		return errorResult(fmt.Sprintf("month %q is not a month in the form YYYY-MM", month))
	}
	slips, ok := payrollData.byMonth[month]
	if !ok {
		return errorResult(fmt.Sprintf("no payroll data for %s; the data covers %s to %s", month, payrollData.months[0], payrollData.months[len(payrollData.months)-1]))
	}
	var depts []deptTotal
	var total int64
	for _, s := range slips {
		i := slices.IndexFunc(depts, func(d deptTotal) bool { return d.Department == s.Department })
		if i < 0 {
			depts = append(depts, deptTotal{Department: s.Department})
			i = len(depts) - 1
		}
		depts[i].Headcount++
		depts[i].cents += s.gross
		depts[i].Gross = amount(depts[i].cents)
		total += s.gross
	}
	slices.SortFunc(depts, func(a, b deptTotal) int { return strings.Compare(a.Department, b.Department) })

	var b strings.Builder
	fmt.Fprintf(&b, "Payroll %s, USD\n\n", month)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Employee\tDepartment\tBase\tBonus\tOvertime\tGross\t")
	for _, s := range slips {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.Department, money(s.base), money(s.bonus), money(s.overtime), money(s.gross))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t")
	for _, d := range depts {
		fmt.Fprintf(tw, "%s (%d)\t\t\t\t\t%s\t\n", d.Department, d.Headcount, money(d.cents))
	}
	fmt.Fprintf(tw, "Total (%d)\t\t\t\t\t%s\t\n", len(slips), money(total))
	tw.Flush()
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: b.String()}},
		StructuredContent: map[string]any{
			"month": month, "currency": "USD", "employees": slips, "by_department": depts,
			"total": map[string]any{"headcount": len(slips), "gross": amount(total)},
		},
	}
}
