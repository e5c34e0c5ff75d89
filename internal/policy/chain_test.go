package policy

import (
	"slices"
	"strings"
	"testing"
)

// TestConditionsSeeTheDelegationChain: trusted-agent holds a token for
// alice that it got by exchanging one untrusted held (RFC 8693 act: the
// chain trusted-agent, untrusted, outermost first). context.agent.client_id
// names trusted-agent, the client presenting the token, alone; before,
// nothing else of the chain reached a condition, so a rule meant to keep
// untrusted out could not be written, and one admitting trusted-agent by
// its client_id admitted whatever it acted through. context.agent.chain is
// the set of every client the call passes through (the presenting one
// included), context.agent.delegated whether it names another. Each
// condition is decided both on the fast path and by Cedar alone (the
// decimal term is outside the fast path), which must agree.
func TestConditionsSeeTheDelegationChain(t *testing.T) {
	alice := Principal{Subject: "alice", Roles: []string{"sales"}}
	direct := Agent{ClientID: "trusted-agent", Kind: "agent"}
	through := Agent{ClientID: "trusted-agent", Kind: "agent", Chain: []string{"trusted-agent", "untrusted"}}
	// A client that exchanged a token of its own acts through nobody else.
	self := Agent{ClientID: "trusted-agent", Kind: "agent", Chain: []string{"trusted-agent", "trusted-agent"}}
	// Through a trusted helper only.
	helper := Agent{ClientID: "trusted-agent", Kind: "agent", Chain: []string{"trusted-agent", "helper"}}
	for _, tt := range []struct {
		when                         string
		direct, through, self, helpr bool
	}{
		{`!context.agent.chain.contains("untrusted")`, true, false, true, true},
		{`context.agent.chain.contains("untrusted")`, false, true, false, false},
		{`context.agent.chain.contains("trusted-agent")`, true, true, true, true},
		{`["trusted-agent", "helper"].containsAll(context.agent.chain)`, true, false, true, true},
		{`context.agent.chain.containsAny(["untrusted", "other"])`, false, true, false, false},
		{`context.agent.chain.isEmpty()`, false, false, false, false},
		{`context.agent.chain == ["trusted-agent"]`, true, false, true, false},
		{`!context.agent.delegated`, true, false, true, false},
		{`context.agent.delegated`, false, true, false, true},
		{`context.agent has chain && context.agent has delegated`, true, true, true, true},
		// Conditions that do not mention the chain read as before: the
		// client_id and kind are the presenting client's alone.
		{`context.agent.client_id == "trusted-agent"`, true, true, true, true},
		{`context.agent.kind == "agent"`, true, true, true, true},
		{`context.agent.client_id == "untrusted"`, false, false, false, false},
	} {
		for _, when := range []string{tt.when, "(" + tt.when + `) && decimal("1.5").lessThan(decimal("2.0"))`} {
			s := mustCompile(t, []Rule{{Tool: "report", Roles: []string{"sales"}, When: when}})
			for _, c := range []struct {
				name string
				a    Agent
				want bool
			}{{"direct", direct, tt.direct}, {"through untrusted", through, tt.through}, {"through itself", self, tt.self}, {"through helper", helper, tt.helpr}} {
				d := s.Decide(Request{Principal: alice, Agent: c.a, Tool: "report"})
				if d.Allow != c.want {
					t.Errorf("%s, %s: allowed %v, want %v (%v)", when, c.name, d.Allow, c.want, d.Reasons)
				}
				if got := slices.Contains(s.Visible(alice, c.a), "report"); got != c.want {
					t.Errorf("%s, %s: visible %v, want %v", when, c.name, got, c.want)
				}
			}
		}
	}
}

// TestConditionReasonsNameTheChain: the reasons of a condition that reads
// context.agent, for a delegated call, name the client presenting the
// token and those it acts through, so that the trail says through whom a
// rule about the agent let a call through or refused it. A call that is
// not delegated, and a condition that reads no part of the agent, keep
// their reasons as they were.
func TestConditionReasonsNameTheChain(t *testing.T) {
	alice := Principal{Subject: "alice", Roles: []string{"sales"}, Attributes: map[string]string{"region": "emea"}}
	through := Agent{ClientID: "trusted-agent", Kind: "agent", Chain: []string{"trusted-agent", "untrusted", "trusted-agent"}}
	direct := Agent{ClientID: "trusted-agent", Kind: "agent"}
	s := mustCompile(t, []Rule{
		{Tool: "deny", Roles: []string{"sales"}, When: `!context.agent.chain.contains("untrusted")`},
		{Tool: "allow", Roles: []string{"sales"}, When: `context.agent.client_id == "trusted-agent"`},
		{Tool: "cedar", Roles: []string{"sales"}, When: `context.agent.delegated && decimal("1.5").lessThan(decimal("2.0"))`},
		{Tool: "region", Roles: []string{"sales"}, When: `principal.region == "emea"`},
	})
	for _, tt := range []struct {
		tool  string
		agent Agent
		allow bool
		want  string
	}{
		{"deny", through, false, "condition `!context.agent.chain.contains(\"untrusted\")` is false for agent trusted-agent acting through untrusted"},
		{"allow", through, true, "condition `context.agent.client_id == \"trusted-agent\"` is true for agent trusted-agent acting through untrusted"},
		{"cedar", through, true, "is true for agent trusted-agent acting through untrusted"},
		{"deny", direct, true, "condition `!context.agent.chain.contains(\"untrusted\")` is true"},
		{"region", through, true, "condition `principal.region == \"emea\"` is true"},
	} {
		d := s.Decide(Request{Principal: alice, Agent: tt.agent, Tool: tt.tool})
		last := d.Reasons[len(d.Reasons)-1]
		if d.Allow != tt.allow || !strings.HasSuffix(last, tt.want) {
			t.Errorf("%s through %v: %v %q, want %v and a reason ending %q", tt.tool, tt.agent.Chain, d.Allow, last, tt.allow, tt.want)
		}
	}
}
