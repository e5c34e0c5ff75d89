package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionsSeeTheDelegationChainThroughMCP: acme-assistant calls
// for alice, once with a token of its own and once with one it exchanged
// from helper-bot's (RFC 8693 act: acme-assistant, helper-bot). A rule
// `!context.agent.chain.contains("helper-bot")` lists and runs its tool
// for the first and neither for the second; before, context.agent named
// acme-assistant alone, so no condition could tell the two apart, and one
// admitting acme-assistant by its client_id admitted whatever it acted
// through. client_id still names the presenting client only, and the
// trail's reasons name the chain.
func TestConditionsSeeTheDelegationChainThroughMCP(t *testing.T) {
	sales := func(name, when string) store.Tool {
		return store.Tool{Name: name, Builtin: "sales_report", Roles: []string{"sales-manager"}, When: when}
	}
	e := newEnv(t, envOptions{tools: []store.Tool{
		sales("sales_report", ""),
		sales("no_helper", `!context.agent.chain.contains("helper-bot")`),
		sales("not_delegated", `!context.agent.delegated`),
		sales("assistant", `context.agent.client_id == "acme-assistant"`),
	}})
	ctx := context.Background()
	if err := e.st.Clients().Create(ctx, store.Client{ClientID: "helper-bot", Kind: store.KindAgent}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	all := []string{"assistant", "no_helper", "not_delegated", "sales_report"}
	for _, tt := range []struct {
		name string
		act  *accesstoken.Actor
		may  []string
	}{
		{"direct", nil, all},
		{"through itself", &accesstoken.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}, all},
		{"through helper-bot", &accesstoken.Actor{Sub: "acme-assistant", ClientID: "acme-assistant",
			Act: &accesstoken.Actor{Sub: "helper-bot", ClientID: "helper-bot"}}, []string{"assistant", "sales_report"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs := e.connectToken(e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
				c.GrantID = "g-1"
				c.Act = tt.act
			}), "", nil)
			if got := toolNames(t, cs); !slices.Equal(got, tt.may) {
				t.Errorf("tools/list = %v, want %v", got, tt.may)
			}
			for _, tool := range all {
				if res := call(t, cs, tool, map[string]any{"month": "2026-10"}); res.IsError == slices.Contains(tt.may, tool) {
					t.Errorf("%s: refused %v (%q), want %v", tool, res.IsError, text(res), !slices.Contains(tt.may, tool))
				}
			}
		})
	}
	// The trail names the chain in the reasons of the conditions about
	// the agent: the refusal, and the call admitted by client_id.
	want := map[string]string{
		"no_helper": "deny",
		"assistant": "allow",
	}
	for _, ev := range e.mem.all() {
		if ev.Type != audit.ToolDecided || len(ev.Chain) < 2 || want[ev.Tool] == "" {
			continue
		}
		if reasons := strings.Join(ev.Reasons, "; "); ev.Decision != want[ev.Tool] ||
			!strings.Contains(reasons, "for agent acme-assistant acting through helper-bot") {
			t.Errorf("%s through helper-bot recorded as %+v", ev.Tool, ev)
		}
		delete(want, ev.Tool)
	}
	if len(want) > 0 {
		t.Errorf("no decision recorded for %v", want)
	}
}
