package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// benchSet builds the scale: 10,000 tools and 1,000 roles, each tool
// granted to three roles, and a user holding five of them. Tool "tool-cond"
// carries a condition over both args and a principal attribute, and
// "tool-cond-wider" one with arithmetic and set operators, "tool-cond-cedar"
// one that only Cedar decides.
func benchSet(b *testing.B) (*Set, Principal) {
	b.Helper()
	const tools, roles = 10_000, 1_000
	rules := make([]Rule, 0, tools+1)
	for i := range tools {
		rules = append(rules, Rule{
			Tool:  fmt.Sprintf("tool-%05d", i),
			Roles: []string{fmt.Sprintf("role-%03d", i%roles), fmt.Sprintf("role-%03d", (i*7+3)%roles), fmt.Sprintf("role-%03d", (i*13+5)%roles)},
		})
	}
	rules = append(rules, Rule{
		Tool:  "tool-cond",
		Roles: []string{"role-999"},
		When:  `context.args.amount <= 50 && principal.region == "emea"`,
	}, Rule{
		// Arithmetic, a set operation and an entity test: decided by
		// Cedar until the fast path took them.
		Tool:  "tool-cond-wider",
		Roles: []string{"role-999"},
		When:  `context.args.amount * 2 - 10 <= 100 && principal.roles.containsAny(["role-999", "role-998"]) && principal is User`,
	}, Rule{
		// An extension function (decimals): outside the fast path, so
		// decided by Cedar.
		Tool:  "tool-cond-cedar",
		Roles: []string{"role-999"},
		When:  `context.args.amount <= 50 && principal.region == "emea" && decimal("12.50").lessThan(decimal("50.00"))`,
	}, Rule{
		// The delegation chain, read by a call through one and by one
		// that is not.
		Tool:  "tool-cond-chain",
		Roles: []string{"role-999"},
		When:  `!context.agent.chain.contains("untrusted") && context.args.amount <= 50`,
	})
	s := mustCompile(b, rules)
	p := Principal{
		Subject:    "alice",
		Roles:      []string{"role-100", "role-200", "role-300", "role-400", "role-999"},
		Attributes: map[string]string{"region": "emea", "team": "north"},
	}
	return s, p
}

// BenchmarkDecide reports the mean (ns/op) and, as p99-ns, the 99th
// percentile of single decisions, timed one by one.
func BenchmarkDecide(b *testing.B) {
	s, p := benchSet(b)
	agent := Agent{ClientID: "acme-assistant", Kind: "agent"}
	through := Agent{ClientID: "acme-assistant", Kind: "agent", Chain: []string{"acme-assistant", "helper-bot"}}
	cases := []struct {
		name string
		req  Request
	}{
		// tool-00999 is granted to role-999, the user's last role: the
		// longest role scan.
		{"no-condition", Request{Principal: p, Agent: agent, Tool: "tool-00999"}},
		{"no-condition-denied", Request{Principal: p, Agent: agent, Tool: "tool-00001"}},
		{"condition", Request{Principal: p, Agent: agent, Tool: "tool-cond", Args: map[string]any{"amount": json.Number("20"), "note": "refund for order 1234"}}},
		{"condition-wider", Request{Principal: p, Agent: agent, Tool: "tool-cond-wider", Args: map[string]any{"amount": json.Number("20"), "note": "refund for order 1234"}}},
		{"condition-cedar", Request{Principal: p, Agent: agent, Tool: "tool-cond-cedar", Args: map[string]any{"amount": json.Number("20"), "note": "refund for order 1234"}}},
		{"condition-chain", Request{Principal: p, Agent: agent, Tool: "tool-cond-chain", Args: map[string]any{"amount": json.Number("20")}}},
		{"condition-chain-delegated", Request{Principal: p, Agent: through, Tool: "tool-cond-chain", Args: map[string]any{"amount": json.Number("20")}}},
		{"condition-cedar-delegated", Request{Principal: p, Agent: through, Tool: "tool-cond-cedar", Args: map[string]any{"amount": json.Number("20"), "note": "refund for order 1234"}}},
	}
	for _, tc := range cases {
		if d := s.Decide(tc.req); d.Allow == (tc.name == "no-condition-denied") {
			b.Fatalf("%s: unexpected decision %+v", tc.name, d)
		}
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				s.Decide(tc.req)
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

func BenchmarkVisible(b *testing.B) {
	s, p := benchSet(b)
	agent := Agent{ClientID: "acme-assistant", Kind: "agent"}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(s.Visible(p, agent))
	}
	b.ReportMetric(float64(n), "tools")
}
