package policy

import (
	"encoding/json"
	"math"
	"testing"
)

// TestFastPathAgreesWithCedarOnEdges: the fast path and Cedar agree where
// they could most easily part: errors short-circuited or not, negation
// and comparison at the 64-bit limits, mixed types, like with escapes and
// Unicode, has on nested and missing attributes, floats against Longs.
func TestFastPathAgreesWithCedarOnEdges(t *testing.T) {
	conds := []string{
		`false && context.args.s < 1`, `true || context.args.s < 1`, `context.args.s < 1 && false`, `context.args.s < 1 || true`,
		`!context.args.n`, `!(context.args.n == 1)`, `if context.args.n then true else false`, `if context.args.b then true else false`,
		`-context.args.n < 0`, `-context.args.n > 0`, `context.args.n == 9223372036854775807`, `context.args.n == -9223372036854775808`,
		`context.args.n < context.args.s`, `context.args.n == context.args.s`, `context.args.n != "1"`, `principal.n < 5`, `principal.n == "5"`,
		`context.args.s like "\*"`, `context.args.s like "a\*b*"`, `context.args.s like "*é"`, `context.args.s like "e\u{301}*"`, `principal.region like "*"`,
		`context.args has r.x`, `context.args has r.r.x`, `context.args.r has x`, `context.args has missing.x`, `context.args.r.x == 1`, `context.args.r.r.x == 1`,
		`principal has n`, `principal has roles`, `principal.roles.contains("5")`, `principal.roles.contains(5)`, `[5, "5"].contains(context.args.n)`,
		`[User::"alice"].contains(principal)`, `User::"alice" has n`, `User::"bob" has n`, `resource has x`, `context has args`, `context.agent has other`,
		`context.args.f == 1`, `context.args.f < 2`, `context.args.z == 0`, `context.args.nul has x`, `context has nul`, `context.args has nul`,
		`context.args.n > 9007199254740992`, `context.args.big == 9223372036854775807`,
	}
	argSets := []map[string]any{
		{"n": json.Number("1"), "s": "*", "b": true, "r": map[string]any{"x": json.Number("1"), "r": map[string]any{"x": 1}}, "f": 1.0, "z": math.Copysign(0, -1), "nul": nil},
		{"n": json.Number("-9223372036854775808"), "s": "a*bc", "b": json.Number("1"), "r": map[string]any{}, "f": 1.5, "big": 9.223372036854775807e18},
		{"n": json.Number("9223372036854775807"), "s": "é", "r": nil, "f": json.Number("1.0"), "z": json.Number("-0"), "big": json.Number("9223372036854775807")},
		{"n": "5", "s": "e\u0301x", "f": json.Number("1e0"), "big": json.Number("9.223372036854775807e18")},
		{"n": json.Number("9007199254740993"), "s": "", "f": float64(1 << 53)},
		{"n": int64(5), "s": `a\*b`, "r": map[string]any{"r": map[string]any{"x": json.Number("1e0")}}},
	}
	ps := []Principal{{Subject: "alice", Roles: []string{"5"}, Attributes: map[string]string{"n": "5", "region": ""}}, {Subject: "bob"}}
	n := 0
	for _, src := range conds {
		c, err := compileCondition(src)
		if err != nil {
			t.Logf("%s: %v", src, err)
			continue
		}
		for _, p := range ps {
			for _, args := range argSets {
				in := args
				if !c.usesArgs {
					in = nil
				}
				want, werr, _ := cedarVerdict(c, p, Agent{Kind: "agent"}, "t", in)
				got, why := c.eval(p, Agent{Kind: "agent"}, "t", args)
				n++
				if got != want {
					t.Errorf("%s p=%v args=%v: engine %v %q cedar %v err %v", src, p.Subject, args, got, why, want, werr)
				}
			}
		}
	}
	t.Logf("%d directed comparisons", n)
}
