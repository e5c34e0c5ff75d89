package gateway_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// TestChainCapRefusalNamesTheChain: acme-assistant, which has no tool cap,
// acts for alice through payroll-bot (capped to payroll_report); her
// sales_report call is refused by payroll-bot's cap, and the trail says
// so. Before, the reason read "agent acme-assistant's tool cap excludes
// sales_report": a cap the agent does not have, with no word of the
// client whose cap it was.
func TestChainCapRefusalNamesTheChain(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
		c.GrantID = "g-1"
		c.Act = &accesstoken.Actor{Sub: "acme-assistant", ClientID: "acme-assistant",
			Act: &accesstoken.Actor{Sub: "payroll-bot", ClientID: "payroll-bot"}}
	})
	cs := e.connectToken(tok, "", nil)
	if r := call(t, cs, "sales_report", map[string]any{}); !r.IsError {
		t.Fatalf("sales_report through payroll-bot's cap: %q", text(r))
	}
	var dec *audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Tool == "sales_report" {
			dec = &ev
		}
	}
	if dec == nil {
		t.Fatal("no decision recorded")
	}
	reasons := strings.Join(dec.Reasons, "; ")
	if dec.Decision != "deny" || !slices.Equal(dec.Chain, []string{"acme-assistant", "payroll-bot"}) ||
		!strings.Contains(reasons, "payroll-bot") || strings.Contains(reasons, "agent acme-assistant's tool cap") {
		t.Errorf("the refusal recorded as %+v", dec)
	}
}
