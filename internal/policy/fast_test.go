package policy

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// exprGen writes random Cedar expressions over the names the gateway's
// requests carry, inside and outside the subset fast.go evaluates, and
// with every kind of error: missing attributes, type mismatches, decimals,
// overflow.
type exprGen struct{ r *rand.Rand }

func (g exprGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g exprGen) term() string {
	return g.pick(
		"principal.region", "principal.team", "principal.missing", "principal.roles", "principal",
		`User::"alice"`, `User::"bob"`, "resource", `Tool::"t"`, "action", `Action::"call"`,
		`User::"alice".region`, `Tool::"t".x`,
		"context.args.amount", "context.args.note", "context.args.flag", "context.args.nested",
		"context.args.nested.x", "context.args.missing", "context.args.gone", "context.args.list",
		"context.args.price", "context.args.big", "context.args",
		"context.agent.client_id", "context.agent.kind", "context.agent.other", "context.agent", "context",
		"0", "50", "-3", "-9223372036854775808", "9223372036854775807", `"emea"`, `"north"`, `"x"`, `""`, "true", "false",
		`decimal("20.5")`, "[1, 2]", `["emea", "x", 50]`, `[User::"alice", true]`, `[]`, `[principal.region]`, `{a: 1}`, "context.args.amount + 1", "-context.args.amount",
		"-(-9223372036854775807 - 1)", `Null::""`, "context.args.gone.x", "context.args.nested.y",
	)
}

func (g exprGen) expr(depth int) string {
	if depth <= 0 {
		return g.atom()
	}
	switch g.r.IntN(7) {
	case 0:
		return "(" + g.expr(depth-1) + " && " + g.expr(depth-1) + ")"
	case 1:
		return "(" + g.expr(depth-1) + " || " + g.expr(depth-1) + ")"
	case 2:
		return "!(" + g.expr(depth-1) + ")"
	case 3:
		return "(if " + g.expr(depth-1) + " then " + g.expr(depth-1) + " else " + g.pick(g.expr(depth-1), g.term()) + ")"
	default:
		return g.atom()
	}
}

func (g exprGen) atom() string {
	switch g.r.IntN(7) {
	case 5:
		return g.term() + " is " + g.pick("Null", "User", "Tool")
	case 0:
		return g.term() + " has " + g.pick("region", "roles", "missing", "amount", "nested", "gone", "x", "y", "client_id", "args", "agent")
	case 1:
		return g.term() + ".contains(" + g.term() + ")"
	case 2:
		return g.pick("true", "false", g.term())
	case 3:
		return g.term() + " like " + g.pick(`"e*"`, `"*a*"`, `"emea"`, `"\*"`, `"*"`)
	default:
		return g.term() + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " + g.term()
	}
}

var fastPrincipals = []Principal{
	{Subject: "alice", Roles: []string{"r", "emea"}, Attributes: map[string]string{"region": "emea", "team": "north"}},
	{Subject: "bob", Roles: []string{"r"}, Attributes: map[string]string{"region": "x", "roles": "shadowed"}},
	{Subject: "carol", Roles: []string{"r"}},
}

var fastAgents = []Agent{{ClientID: "loadgen", Kind: "agent"}, {ClientID: "", Kind: "service"}}

var fastArgs = []map[string]any{
	nil,
	{},
	{"amount": json.Number("20"), "note": "refund", "flag": true, "nested": map[string]any{"x": json.Number("-3")}, "gone": nil},
	{"amount": json.Number("20.5"), "price": 0.25, "list": []any{json.Number("1"), "a", nil}},
	{"amount": float64(50), "big": json.Number("9223372036854775807"), "nested": map[string]any{}},
	{"amount": json.Number("5e1"), "note": "emea", "nested": map[string]any{"x": "emea", "y": nil}},
	{"amount": json.Number("1e999"), "note": "x"},          // not a Cedar number: every condition on args fails
	{"amount": 1e300, "nested": []any{0.123456}},           // neither is this
	{"amount": int64(-3), "note": "", "flag": false},       // typed Go integers
	{"amount": json.Number("007"), "n": json.Number("+5")}, // not JSON number syntax: refused by both
}

// TestFastPathAgreesWithCedar compares, on random expressions and inputs,
// the fast evaluation with Cedar's: the decision and its reason must be
// the same, and so must what Visible would conclude from the gate.
func TestFastPathAgreesWithCedar(t *testing.T) {
	g := exprGen{rand.New(rand.NewPCG(1, 2))}
	n := 4000
	if testing.Short() {
		n = 500
	}
	var compiled, fastAnswers, fastTrue, evals int
	for range n {
		src := g.expr(3)
		c, err := compileCondition(src)
		if err != nil {
			continue // a type error the parser sees, such as `1 has x`
		}
		compiled++
		for _, p := range fastPrincipals {
			for _, a := range fastAgents {
				for _, args := range fastArgs {
					evals++
					gotOK, gotWhy := c.eval(p, a, "t", args)
					wantOK, wantWhy := c.evalCedar(p, a, "t", map[string]any(nil))
					if c.usesArgs {
						wantOK, wantWhy = c.evalCedar(p, a, "t", args)
					}
					if gotOK != wantOK || gotWhy != wantWhy {
						t.Fatalf("%s\nprincipal %+v agent %+v args %v:\nfast path %v %q\nCedar     %v %q", src, p, a, args, gotOK, gotWhy, wantOK, wantWhy)
					}
					if c.fast != nil {
						env := newFastEnv(p, a, "t", args)
						if !c.usesArgs {
							env.args = nil
						}
						if v, ok := c.fast(env); ok && v.kind == fastBool && (!c.usesArgs || convertible(args)) {
							fastAnswers++
							if v.b {
								fastTrue++
							}
						}
					}
				}
				if c.gate != nil {
					dec, diag := authorize(c.gate, p, a, "t", emptyRecord)
					want := dec.String() == "allow" && len(diag.Errors) == 0
					if got := c.possible(p, a, "t"); got != want {
						t.Fatalf("%s: possible = %v, the gate by Cedar = %v (principal %+v)", src, got, want, p)
					}
				}
			}
		}
	}
	// The comparison means something only if the fast path answered often,
	// both ways.
	t.Logf("%d expressions compiled, %d evaluations, %d answered by the fast path (%d true)", compiled, evals, fastAnswers, fastTrue)
	if compiled < n/2 || fastAnswers < evals/10 || fastTrue < fastAnswers/20 {
		t.Fatalf("the generator exercises too little: %d compiled, %d of %d fast answers, %d true", compiled, fastAnswers, evals, fastTrue)
	}
}

// TestFastPathCoversTheCommonConditions pins which conditions are
// evaluated without Cedar, so a change that loses the fast path for them
// is seen.
func TestFastPathCoversTheCommonConditions(t *testing.T) {
	for _, src := range []string{
		`context.args.amount <= 50 && principal.region == "emea"`,
		`principal.roles.contains("finance") || context.agent.kind != "agent"`,
		`context.args has region && context.args.region == principal.region`,
		`principal == User::"alice" && resource == Tool::"sales_report"`,
		`if context.args.amount > -10 then true else false`,
		`principal.region like "e*" && context.agent.client_id like "acme-*"`,
		`["emea", "amer"].contains(principal.region) && [1, 2, 3].contains(context.args.n)`,
		`context.args.amount * context.args.count - 5 <= 1000 + 1`,
		`principal.roles.containsAny(["finance", "audit"]) && !principal.roles.isEmpty()`,
		`["finance", "audit"].containsAll(principal.roles)`,
		`principal is User && principal in [User::"alice", User::"bob"] && resource in Tool::"sales_report"`,
		`principal is User in User::"alice"`,
		`!context.agent.chain.contains("untrusted") && !context.agent.delegated`,
		`["trusted-agent", "helper"].containsAll(context.agent.chain) && context.agent.chain.containsAny(["helper"])`,
	} {
		c, err := compileCondition(src)
		if err != nil {
			t.Fatal(err)
		}
		if c.fast == nil {
			t.Errorf("%s: no fast path", src)
		}
	}
	for _, src := range []string{`context.args.price < decimal("1.5")`, `ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))`, `principal.hasTag("x")`,
		`{a: 1} == context.args`, `[[1]].contains([1])`} {
		c, err := compileCondition(src)
		if err != nil {
			t.Fatal(err)
		}
		if c.fast != nil {
			t.Errorf("%s: has a fast path, but uses what it does not know", src)
		}
	}
}
