package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/x/exp/ast"
)

// FuzzCompile checks that no condition text breaks out of its wrapper or
// makes Compile, Decide or Visible panic, and that a compiled condition
// never lets a principal without the role through, and that its fast path
// (fast.go) answers as Cedar does.
func FuzzCompile(f *testing.F) {
	for _, r := range catalogue {
		f.Add(r.When)
	}
	for _, seed := range []string{
		`true }; permit (principal, action, resource) when { true`,
		`false } unless { false`,
		`context.args.amount <=`,
		`principal.region like "e*" && context.agent.kind in ["agent"]`,
		`ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))`,
		`context.args.when.lessThan(decimal("1.5")) || context.args.n > 9223372036854775807`,
		"\"\\u{7d}; permit(principal, action, resource) when { true\"",
		"true /* */",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		s, err := Compile([]Rule{{Tool: "t", Roles: []string{"r"}, When: cond}})
		if err != nil {
			if !errors.Is(err, ErrCondition) {
				t.Fatalf("error %v does not wrap ErrCondition", err)
			}
			return
		}
		if c := s.rules["t"].cond; c != nil && !isWrapper((*ast.Policy)(c.policy.AST())) {
			t.Fatalf("condition %q compiled to a policy other than the wrapper", cond)
		}
		args := map[string]any{"amount": 1.5, "n": "x", "when": []any{true}}
		stranger := Principal{Subject: "s", Roles: []string{"other"}, Attributes: map[string]string{"region": "emea"}}
		if d := s.Decide(Request{Principal: stranger, Tool: "t", Args: args}); d.Allow {
			t.Fatalf("condition %q let a principal without the role through", cond)
		}
		member := Principal{Subject: "m", Roles: []string{"r"}, Attributes: map[string]string{"region": "emea"}}
		d := s.Decide(Request{Principal: member, Agent: Agent{ClientID: "a", Kind: "agent"}, Tool: "t", Args: args})
		if d.Allow && strings.TrimSpace(cond) != "" && !strings.HasSuffix(d.Reasons[len(d.Reasons)-1], "is true") {
			t.Fatalf("allowed without a true condition: %v", d.Reasons)
		}
		_ = s.Visible(member, Agent{ClientID: "a"})
		if c := s.rules["t"].cond; c != nil {
			in := args
			if !c.usesArgs {
				in = nil
			}
			for _, p := range []Principal{stranger, member} {
				gotOK, gotWhy := c.eval(p, Agent{ClientID: "a", Kind: "agent"}, "t", args)
				wantOK, wantWhy := c.evalCedar(p, Agent{ClientID: "a", Kind: "agent"}, "t", in)
				if gotOK != wantOK || gotWhy != wantWhy {
					t.Fatalf("%s: fast path %v %q, Cedar %v %q", cond, gotOK, gotWhy, wantOK, wantWhy)
				}
			}
		}
	})
}
