package policy

import (
	"testing"
)

// TestCedarSeesAPersonsChangedRolesAndAttributes: Cedar's entity of a
// person is kept from one decision to the next by the person's subject;
// when the person's roles or attributes change (a reloaded catalogue), a
// condition that only Cedar decides (decimal is outside the fast path)
// reads the new ones, and reads the old ones again when they come back.
func TestCedarSeesAPersonsChangedRolesAndAttributes(t *testing.T) {
	s := mustCompile(t, []Rule{{
		Tool:  "refund",
		Roles: []string{"support", "auditor"},
		When:  `principal.region == "emea" && principal.roles.contains("support") && decimal("1.5").lessThan(decimal("2.0"))`,
	}})
	if c := s.rules["refund"].cond; c == nil || c.fast != nil {
		t.Fatal("the condition should be decided by Cedar alone")
	}
	agent := Agent{ClientID: "bot", Kind: "agent"}
	dana := func(region string, roles ...string) Principal {
		return Principal{Subject: "dana", Roles: roles, Attributes: map[string]string{"region": region}}
	}
	for i, step := range []struct {
		p    Principal
		want bool
	}{
		{dana("emea", "support"), true},
		{dana("apac", "support"), false},
		{dana("emea", "support"), true},
		{dana("emea", "auditor"), false},
		{dana("emea", "auditor", "support"), true},
		{Principal{Subject: "dana", Roles: []string{"support"}}, false},
		{dana("emea", "support"), true},
	} {
		if d := s.Decide(Request{Principal: step.p, Agent: agent, Tool: "refund"}); d.Allow != step.want {
			t.Errorf("step %d, %+v: allowed %v, want %v (%v)", i, step.p, d.Allow, step.want, d.Reasons)
		}
	}
}
