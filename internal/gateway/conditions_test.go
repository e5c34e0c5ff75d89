package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionsThroughMCP: Cedar `when` conditions on the person's
// attributes and on the agent decide what tools/list shows and what
// tools/call runs. A tool whose condition can never hold for the caller is
// neither listed nor callable, also when the condition reads the
// arguments too.
func TestConditionsThroughMCP(t *testing.T) {
	sales := func(name, when string) store.Tool {
		return store.Tool{Name: name, Builtin: "sales_report", Roles: []string{"sales-manager"}, When: when}
	}
	e := newEnv(t, envOptions{tools: []store.Tool{
		sales("sales_report", ""),
		sales("emea_sales", `principal.region == "emea"`),
		sales("assistant_sales", `context.agent.client_id == "acme-assistant"`),
		sales("agents_sales", `context.agent.kind == "agent"`),
		sales("emea_month", `principal.region == "emea" && context.args.month == "2026-10"`),
		sales("mars_month", `context.args.month == "2026-10" && principal.region == "mars"`),
	}})
	ctx := context.Background()
	if err := e.st.Clients().Create(ctx, store.Client{ClientID: "desk-app", Kind: store.KindNative}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	all := []string{"agents_sales", "assistant_sales", "emea_month", "emea_sales", "mars_month", "sales_report"}
	for _, tt := range []struct {
		who, agent string
		may        []string // listed and callable (with month 2026-10)
	}{
		// alice is in EMEA, carol in AMER; both manage sales.
		{"alice", "acme-assistant", []string{"agents_sales", "assistant_sales", "emea_month", "emea_sales", "sales_report"}},
		{"carol", "acme-assistant", []string{"agents_sales", "assistant_sales", "sales_report"}},
		{"alice", "desk-app", []string{"emea_month", "emea_sales", "sales_report"}},
		{"carol", "desk-app", []string{"sales_report"}},
	} {
		t.Run(tt.who+" via "+tt.agent, func(t *testing.T) {
			cs := e.connect(tt.who, tt.agent, "2025-11-25")
			if got := toolNames(t, cs); !slices.Equal(got, tt.may) {
				t.Errorf("tools/list = %v, want %v", got, tt.may)
			}
			for _, tool := range all {
				res := call(t, cs, tool, map[string]any{"month": "2026-10", "region": "emea"})
				if slices.Contains(tt.may, tool) {
					if res.IsError {
						t.Errorf("%s refused: %s", tool, text(res))
					}
				} else if !res.IsError || text(res) != "Sorry, you don't have access to "+tool+"." {
					t.Errorf("%s: %v %q, want the polite refusal", tool, res.IsError, text(res))
				}
			}
			// A condition on the arguments still decides each call.
			if slices.Contains(tt.may, "emea_month") {
				if res := call(t, cs, "emea_month", map[string]any{"month": "2026-09"}); !res.IsError {
					t.Errorf("emea_month ran for 2026-09")
				}
			}
		})
	}
	// The trail says which condition refused.
	var found bool
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Actor == "carol" && ev.Tool == "emea_sales" {
			found = true
			if ev.Decision != "deny" || ev.Policy != "tool:emea_sales" || !strings.Contains(strings.Join(ev.Reasons, "; "), "`principal.region == \"emea\"` is false") {
				t.Errorf("carol's emea_sales decision = %+v", ev)
			}
		}
	}
	if !found {
		t.Error("no decision recorded for carol's emea_sales")
	}
}
