package policy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestVisibleGate: a condition that reads the arguments hides its tool
// when the operands of its top-level && that do not read them are not
// true; no arguments could make Decide allow it then.
func TestVisibleGate(t *testing.T) {
	s := mustCompile(t, []Rule{
		{Tool: "emea_refund", Roles: []string{"sales-manager"}, When: `principal.region == "emea" && context.args.amount <= 50`},
		{Tool: "agent_refund", Roles: []string{"sales-manager"}, When: `context.args.amount <= 50 && context.agent.kind == "agent"`},
		{Tool: "nested", Roles: []string{"sales-manager"}, When: `(context.args.amount <= 50 && principal.region == "emea") && context.agent.client_id == "acme-assistant"`},
		{Tool: "either", Roles: []string{"sales-manager"}, When: `principal.region == "emea" || context.args.amount <= 50`},
		{Tool: "args_only", Roles: []string{"sales-manager"}, When: `context.args.amount <= 50`},
	})
	for _, tc := range []struct {
		name string
		p    Principal
		a    Agent
		want []string
	}{
		{"all gates true", alice, assistant, []string{"agent_refund", "args_only", "either", "emea_refund", "nested"}},
		{"principal gate false", dave, assistant, []string{"agent_refund", "args_only", "either"}},
		{"principal gate an error", erin, assistant, []string{"agent_refund", "args_only", "either"}},
		{"agent gates false", alice, cursor, []string{"args_only", "either", "emea_refund"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Visible(tc.p, tc.a)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Visible (-want +got):\n%s", diff)
			}
			shown := map[string]bool{}
			for _, tool := range got {
				shown[tool] = true
			}
			// A hidden tool is denied whatever the arguments.
			for _, tool := range s.Tools() {
				for _, args := range []string{`{"amount":10}`, `{"amount":500}`, `{}`} {
					var m map[string]any
					json.Unmarshal([]byte(args), &m)
					if d := s.Decide(Request{Principal: tc.p, Agent: tc.a, Tool: tool, Args: m}); d.Allow && !shown[tool] {
						t.Errorf("Visible hides %s, but Decide allows it with %s", tool, args)
					}
				}
			}
		})
	}
}
