package tools_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
	"github.com/gatehouse/gatehouse/internal/tools"
	"github.com/gatehouse/gatehouse/slipverify"
)

func newMinter(t *testing.T) *slip.Minter {
	t.Helper()
	st := storetest.OpenSQLite(t)
	master := make([]byte, 32)
	rand.Read(master)
	sealer, _ := keys.NewSealer(master)
	km, err := keys.Open(context.Background(), st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &slip.Minter{Issuer: "http://gatehouse.test", Keys: km, Store: st}
}

func mintFor(t *testing.T, m *slip.Minter, tool, args string) (string, []byte) {
	t.Helper()
	canon, err := slipverify.Canonical([]byte(args))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := m.Mint(slip.Request{Tool: tool, Args: canon, Subject: "alice",
		Actor: &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok, canon
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func structured(t *testing.T, r *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(r.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestBuiltinsRedeemTheSlip(t *testing.T) {
	m := newMinter(t)
	b := &tools.Builtins{Slips: m}
	ctx := context.Background()
	sales := store.Tool{Name: "sales_report", Builtin: "sales_report"}

	tok, args := mintFor(t, m, "sales_report", `{"month":"2026-10"}`)
	res, err := b.Call(ctx, tok, tools.Call{Tool: sales, Args: args})
	if err != nil || res.IsError {
		t.Fatalf("Call = %v, %v", res, err)
	}
	// The same slip again: refused before any data is read.
	if _, err := b.Call(ctx, tok, tools.Call{Tool: sales, Args: args}); !errors.Is(err, slipverify.ErrUsed) {
		t.Errorf("replay: %v", err)
	}
	// A slip for other arguments, for another tool, or none at all.
	tok2, _ := mintFor(t, m, "sales_report", `{"month":"2026-09"}`)
	if _, err := b.Call(ctx, tok2, tools.Call{Tool: sales, Args: args}); !errors.Is(err, slipverify.ErrArguments) {
		t.Errorf("other args: %v", err)
	}
	tok3, _ := mintFor(t, m, "payroll_report", `{"month":"2026-10"}`)
	if _, err := b.Call(ctx, tok3, tools.Call{Tool: sales, Args: args}); err == nil {
		t.Error("a payroll slip ran the sales report")
	}
	if _, err := b.Call(ctx, "", tools.Call{Tool: sales, Args: args}); !errors.Is(err, slipverify.ErrInvalid) {
		t.Errorf("no slip: %v", err)
	}
	// A catalogue name bound to the built-in by the tenant: the slip names
	// the catalogue entry.
	renamed := store.Tool{Name: "emea_sales", Builtin: "sales_report"}
	tok4, args4 := mintFor(t, m, "emea_sales", `{"month":"2026-10","region":"emea"}`)
	if res, err := b.Call(ctx, tok4, tools.Call{Tool: renamed, Args: args4}); err != nil || res.IsError {
		t.Errorf("renamed: %v %v", res, err)
	}
}

func TestSalesReport(t *testing.T) {
	m := newMinter(t)
	b := &tools.Builtins{Slips: m}
	sales := store.Tool{Name: "sales_report", Builtin: "sales_report"}
	run := func(args string) *mcp.CallToolResult {
		tok, canon := mintFor(t, m, "sales_report", args)
		res, err := b.Call(context.Background(), tok, tools.Call{Tool: sales, Args: canon})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	all := run(`{"month":"2026-10"}`)
	out := structured(t, all)
	if out["month"] != "2026-10" || out["region"] != "all" || len(out["rows"].([]any)) != 9 || len(out["by_region"].([]any)) != 3 {
		t.Fatalf("report = %v", out)
	}
	var sum float64
	for _, r := range out["by_region"].([]any) {
		sum += r.(map[string]any)["revenue"].(float64)
	}
	total := out["total"].(map[string]any)["revenue"].(float64)
	if d := sum - total; d > 0.005 || d < -0.005 {
		t.Errorf("regions add up to %.2f, total is %.2f", sum, total)
	}
	if out["previous_month"].(map[string]any)["month"] != "2026-09" {
		t.Errorf("previous month: %v", out["previous_month"])
	}
	if txt := text(all); !strings.Contains(txt, "Sales report 2026-10") || !strings.Contains(txt, "Total") || !strings.Contains(txt, "Change against 2026-09") {
		t.Errorf("text:\n%s", txt)
	}
	emea := structured(t, run(`{"month":"2026-10","region":"emea"}`))
	if emea["region"] != "emea" || len(emea["rows"].([]any)) != 3 {
		t.Errorf("emea report = %v", emea)
	}
	for args, want := range map[string]string{
		`{}`:                                  `"month" is required`,
		`{"month":"2027-01"}`:                 "no sales data for 2027-01",
		`{"month":"October"}`:                 "not a month",
		`{"month":"2026-10","region":"mars"}`: "unknown region",
		`{"month":"2026-10","Region":"emea"}`: `unknown argument "Region"`,
		`{"month":202610}`:                    "must be a string",
		`{"month":"2026-10","limit":"1"}`:     `unknown argument "limit"`,
	} {
		res := run(args)
		if !res.IsError || !strings.Contains(text(res), want) {
			t.Errorf("%s: %v %q, want an error saying %q", args, res.IsError, text(res), want)
		}
	}
}

func TestPayrollReport(t *testing.T) {
	m := newMinter(t)
	b := &tools.Builtins{Slips: m}
	tok, canon := mintFor(t, m, "payroll_report", `{"month":"2025-12"}`)
	res, err := b.Call(context.Background(), tok, tools.Call{Tool: store.Tool{Name: "payroll_report", Builtin: "payroll_report"}, Args: canon})
	if err != nil || res.IsError {
		t.Fatalf("Call = %v, %v", res, err)
	}
	out := structured(t, res)
	if out["total"].(map[string]any)["headcount"] != float64(14) || len(out["by_department"].([]any)) != 5 {
		t.Errorf("payroll = %v", out["total"])
	}
	if !strings.Contains(text(res), "Payroll 2025-12") || !strings.Contains(text(res), "Maria Schmidt") {
		t.Errorf("text:\n%s", text(res))
	}
}

func TestBuiltinDefinitions(t *testing.T) {
	for _, n := range []string{"sales_report", "payroll_report"} {
		b, ok := tools.Lookup(n)
		if !ok || b.Description == "" {
			t.Fatalf("%s missing", n)
		}
		var schema map[string]any
		if err := json.Unmarshal(b.InputSchema, &schema); err != nil || schema["type"] != "object" {
			t.Errorf("%s schema: %v %v", n, schema, err)
		}
	}
}

func TestHTTPBackend(t *testing.T) {
	var gotAuth, gotBody, gotMethod string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotAuth, gotBody, gotMethod = r.Header.Get("Authorization"), string(b), r.Method
		switch r.URL.Path {
		case "/refund":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"refunded":12,"id":"r-1"}`))
		case "/text":
			w.Write([]byte("done"))
		case "/refuse":
			http.Error(w, "amount too large", http.StatusForbidden)
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		case "/huge":
			w.Write(bytes.Repeat([]byte("x"), tools.MaxResponse+1))
		case "/huge-refusal":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(bytes.Repeat([]byte("x"), tools.MaxResponse+1))
		case "/elsewhere":
			t.Error("a redirect was followed with the slip")
		}
	}))
	defer api.Close()
	h := &tools.HTTP{}
	call := func(path, method string) *mcp.CallToolResult {
		res, err := h.Call(context.Background(), "SLIP", tools.Call{
			Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{Method: method, URL: api.URL + path}},
			Args: []byte(`{"amount":12}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := call("/refund", "")
	if gotAuth != "Bearer SLIP" || gotBody != `{"amount":12}` || gotMethod != "POST" {
		t.Errorf("request: %q %q %q", gotAuth, gotBody, gotMethod)
	}
	if res.IsError || structured(t, res)["id"] != "r-1" || text(res) != `{"refunded":12,"id":"r-1"}` {
		t.Errorf("json answer: %+v", res)
	}
	if res := call("/text", "put"); res.IsError || res.StructuredContent != nil || text(res) != "done" || gotMethod != "PUT" {
		t.Errorf("text answer: %+v", res)
	}
	if res := call("/refuse", "POST"); !res.IsError || !strings.Contains(text(res), "403: amount too large") {
		t.Errorf("refusal: %+v %q", res, text(res))
	}
	if res := call("/redirect", "POST"); !res.IsError {
		t.Errorf("redirect: %+v", res)
	}
	// An answer too large to pass on: the agent learns whether the API
	// acted, so that it does not call again (and act again) for an answer.
	if res := call("/huge", "POST"); !res.IsError || !strings.Contains(text(res), "refund ran (the API answered 200)") ||
		!strings.Contains(text(res), "Calling it again would run it again") {
		t.Errorf("a 2xx answer too large: %q", text(res)[:min(len(text(res)), 200)])
	}
	if res := call("/huge-refusal", "POST"); !res.IsError || !strings.Contains(text(res), "The tool answered 500") || strings.Contains(text(res), "ran") {
		t.Errorf("a refusal too large: %q", text(res)[:min(len(text(res)), 200)])
	}
	api.Close()
	if _, err := h.Call(context.Background(), "SLIP", tools.Call{Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{URL: api.URL}}}); err == nil {
		t.Error("an unreachable API gave no error")
	}
}

// TestHTTPBackendTimeout: an API that does not answer within the client's
// timeout gives a TimeoutError naming the tool and the bound (the gateway
// then tells the caller and records a timeout).
func TestHTTPBackendTimeout(t *testing.T) {
	checkTimesOut(t, "a slow API", func(http.ResponseWriter) {})
}

// TestHTTPBackendSlowAnswer: an API that sends its status and headers in
// time but not its body has not answered within the bound either: the
// call is a TimeoutError like one without headers (the caller is told it
// timed out and the trail records a timeout), not a generic failure.
func TestHTTPBackendSlowAnswer(t *testing.T) {
	checkTimesOut(t, "an API whose body is slow", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"refunded":`))
		w.(http.Flusher).Flush()
	})
}

// checkTimesOut calls the tool refund, whose API writes what start writes
// and then stalls until the test ends, with a 100 ms client timeout: the
// call must be a TimeoutError for refund and that bound, and must not name
// the API's URL.
func checkTimesOut(t *testing.T, what string, start func(http.ResponseWriter)) {
	t.Helper()
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start(w)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer api.Close()
	defer close(release)
	h := &tools.HTTP{Client: &http.Client{Timeout: 100 * time.Millisecond}}
	_, err := h.Call(context.Background(), "SLIP", tools.Call{Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{URL: api.URL}}})
	var late *tools.TimeoutError
	if !errors.As(err, &late) || late.Tool != "refund" || late.After != 100*time.Millisecond {
		t.Fatalf("%s: %v, want a TimeoutError", what, err)
	}
	if strings.Contains(err.Error(), api.URL) {
		t.Errorf("the error names the URL: %v", err)
	}
}

// TestHTTPBackendStructuredNumbers: the structured content of an API's
// JSON object answer holds its numbers as the API wrote them. Read as
// 64-bit floats, an order number beyond 2^53 would reach the agent as
// another order's (the text content, the same answer, keeps it exact).
func TestHTTPBackendStructuredNumbers(t *testing.T) {
	const answer = `{"order":12345678901234567891,"id":9007199254740993,"amount":12.50,"nested":{"n":[18014398509481985]}}`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	defer api.Close()
	res, err := (&tools.HTTP{}).Call(context.Background(), "SLIP", tools.Call{
		Tool: store.Tool{Name: "refund", HTTP: &store.HTTPBackend{URL: api.URL}},
		Args: []byte(`{}`),
	})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	got, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"amount":12.50,"id":9007199254740993,"nested":{"n":[18014398509481985]},"order":12345678901234567891}`
	if string(got) != want {
		t.Errorf("structured content = %s, want %s", got, want)
	}
}
