package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// decisions counts the trail's tool.decision records of actor by policy.
func (e *env) decisions(actor string) map[string]int {
	out := map[string]int{}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Actor == actor {
			out[ev.Decision+" "+ev.Policy]++
		}
	}
	return out
}

// TestEveryRefusalCounts: a call refused for any reason of its own (a tool
// the caller may not call, a tool that does not exist, a name no tool can
// have, arguments that are not JSON, arguments its schema refuses) costs
// the caller as much as an allowed call against
// limits.tool_calls_per_minute; beyond it, each gets the rate-limited
// answer an allowed call gets, recorded as such.
func TestEveryRefusalCounts(t *testing.T) {
	counters := &shiftedCounters{}
	schema := json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}`)
	e := newEnv(t, envOptions{counters: counters, tools: []store.Tool{
		{Name: "refund", Roles: []string{"sales-manager"}, Builtin: "sales_report", InputSchema: schema},
	}})
	counters.Counters = e.st.Identity()
	e.limitTo("5")
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	refusals := []struct {
		tool string
		args any
	}{
		{"payroll_report", map[string]any{"month": "2026-10"}}, // not hers
		{"no_such_tool", map[string]any{}},                     // unknown
		{"bad name\x00", map[string]any{}},                     // no tool name at all
		{"refund", json.RawMessage(`{"amount":"ten"}`)},        // refused by its schema
		{"refund", map[string]any{}},                           // a required property missing
	}
	for _, r := range refusals {
		res := call(t, alice, r.tool, r.args)
		if !res.IsError || strings.Contains(text(res), "organisation allows") {
			t.Fatalf("%s: isError %v %q, want its own refusal", r.tool, res.IsError, text(res))
		}
	}
	for _, r := range refusals {
		res := call(t, alice, r.tool, r.args)
		if !res.IsError || !strings.Contains(text(res), "more tool calls in the last minute than this organisation allows (5)") {
			t.Errorf("%s beyond the bound: isError %v %q", r.tool, res.IsError, text(res))
		}
	}
	if res := call(t, alice, "sales_report", map[string]any{"month": "2026-10"}); !res.IsError || !strings.Contains(text(res), "organisation allows (5)") {
		t.Errorf("an allowed call after five refusals: isError %v %q", res.IsError, text(res))
	}
	if got := e.decisions("alice")["deny "+gateway.PolicyRateLimit]; got != len(refusals)+1 {
		t.Errorf("%d rate-limit denials recorded, want %d: %v", got, len(refusals)+1, e.decisions("alice"))
	}
}

// TestStepUpRefusalsCount: a call answered 403 insufficient_scope (its
// token's scope does not name a tool its person may call) is a refused
// call like any other: it counts against limits.tool_calls_per_minute,
// each call of a batch on its own. Beyond the bound the caller gets the
// rate-limited answer an allowed call gets, recorded as such, and not the
// 403 (whose record the caller could otherwise have written without
// end); the next minute the 403 comes again.
func TestStepUpRefusalsCount(t *testing.T) {
	counters := &shiftedCounters{}
	e := newEnv(t, envOptions{counters: counters})
	counters.Counters = e.st.Identity()
	tok := narrowedFrank(t, e) // scope tool:payroll_report; may call sales_report too
	e.limitTo("3")
	const version = "2025-03-26" // with JSON-RPC batches
	session := rawSession(t, e, tok, version)
	msg := func(id, tool string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":{"month":"2026-10"}}}`
	}
	const limitedText = "more tool calls in the last minute than this organisation allows (3)"
	stepUp := func(id string) {
		t.Helper()
		resp, body := e.rawMCP(t, tok, session, version, msg(id, "sales_report"))
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("call %s: %d %q %s, want 403 insufficient_scope", id, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	limited := func(id, tool string) {
		t.Helper()
		resp, body := e.rawMCP(t, tok, session, version, msg(id, tool))
		if resp.StatusCode != 200 || !strings.Contains(body, limitedText) {
			t.Errorf("%s beyond the bound: %d %q %s, want the rate-limited answer", tool, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}

	for i := range 3 {
		stepUp(string(rune('1' + i)))
	}
	limited("4", "sales_report")   // out of scope: no 403 beyond the bound
	limited("5", "payroll_report") // in scope: the refusals counted
	got := e.decisions("frank")
	if got["deny "+gateway.PolicyTokenScope] != 3 || got["deny "+gateway.PolicyRateLimit] != 2 || got["allow "] != 0 {
		t.Errorf("decisions recorded: %v, want 3 token-scope and 2 rate-limit denials", got)
	}

	// A minute on: a batch of two calls out of scope costs two, so one
	// more 403 and the bound is reached.
	counters.by.Store(int64(time.Minute + time.Second))
	resp, body := e.rawMCP(t, tok, session, version, "["+msg("6", "sales_report")+","+msg("7", "payroll_report")+"]")
	if resp.StatusCode != 403 {
		t.Fatalf("batch: %d %s, want 403", resp.StatusCode, body)
	}
	stepUp("8")
	limited("9", "sales_report")
	// A batch beyond the bound: each of its calls answered and recorded
	// as rate-limited, none run.
	resp, body = e.rawMCP(t, tok, session, version, "["+msg("10", "sales_report")+","+msg("11", "payroll_report")+"]")
	if resp.StatusCode != 200 || strings.Count(body, limitedText) != 2 {
		t.Errorf("batch beyond the bound: %d %s, want two rate-limited answers", resp.StatusCode, body)
	}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolResult || ev.Type == audit.SlipMinted {
			t.Errorf("something ran: %+v", ev)
		}
	}
}
