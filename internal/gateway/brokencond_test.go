package gateway_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionThatDoesNotCompileDenies: a tool granted to the caller's
// role whose condition does not compile (a store edited past the tenant
// file's checks) has its rule left out of the catalogue; it is then
// denied, never run without its condition, and not listed. The other
// tools are unaffected. The trail says why: its condition does not
// compile, not that the tool is unknown, which sent an operator looking
// for a tool that is there.
func TestConditionThatDoesNotCompileDenies(t *testing.T) {
	sales := func(name, when string) store.Tool {
		return store.Tool{Name: name, Builtin: "sales_report", Roles: []string{"sales-manager"}, When: when}
	}
	e := newEnv(t, envOptions{tools: []store.Tool{
		sales("sales_report", ""),
		sales("unfinished", `context.args.amount <=`),
		sales("smuggled", `false }; permit (principal, action, resource) when { true`),
		sales("unless", `false } unless { false`),
	}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	if got := toolNames(t, cs); !slices.Equal(got, []string{"sales_report"}) {
		t.Errorf("tools/list = %v, want only sales_report", got)
	}
	if res := call(t, cs, "sales_report", map[string]any{"month": "2026-10"}); res.IsError {
		t.Errorf("sales_report refused: %s", text(res))
	}
	for _, tool := range []string{"unfinished", "smuggled", "unless"} {
		res := call(t, cs, tool, map[string]any{"month": "2026-10", "amount": 1})
		if !res.IsError || text(res) != "Sorry, you don't have access to "+tool+"." {
			t.Errorf("%s: %v %q, want the polite refusal", tool, res.IsError, text(res))
		}
		denied := false
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolDecided && ev.Tool == tool {
				denied = ev.Decision == "deny"
				if ev.Decision != "deny" || ev.Policy != gateway.PolicyWithheld || len(ev.Reasons) != 1 ||
					!strings.HasPrefix(ev.Reasons[0], tool+" is withheld: its condition does not compile: ") {
					t.Errorf("%s: recorded %+v", tool, ev)
				}
			}
		}
		if !denied {
			t.Errorf("%s: no denial recorded", tool)
		}
	}
}
