package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/cedar-policy/cedar-go"
)

// dgen generates expressions in the fast subset.
type dgen struct{ r *rand.Rand }

func (g dgen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g dgen) attrName() string {
	return g.pick("region", "n", "roles", "x", "a", "b", "missing", "args", "agent", "kind", "client_id", "chain", "delegated", `["a b"]`, `["é"]`, `[""]`)
}

func (g dgen) access(base string) string {
	n := g.attrName()
	if n[0] == '[' {
		return base + n
	}
	return base + "." + n
}

func (g dgen) hasName() string {
	n := g.pick("region", "n", "roles", "x", "a", "b", "missing", "args", "agent", "kind", "client_id", "chain", "delegated", `"a b"`, `"é"`, `""`, "a.b", "a.x", "x.a", "b.a.x", "t", "u")
	return n
}

func (g dgen) strLit() string {
	return g.pick(`"emea"`, `""`, `"5"`, `"é"`, `"e\u{301}"`, `"*"`, `"a*b"`, `"\*"`, `"alice"`, `"t"`, `"agent"`, `"-0"`, `"true"`)
}

func (g dgen) longLit() string {
	return g.pick("0", "1", "5", "-1", "-0", "50", "9223372036854775807", "-9223372036854775808", "9007199254740992", "9007199254740993", "100")
}

func (g dgen) lit() string {
	switch g.r.IntN(5) {
	case 0:
		return g.strLit()
	case 1:
		return g.longLit()
	case 2:
		return g.pick("true", "false")
	case 3:
		return g.pick(`User::"alice"`, `User::"bob"`, `Tool::"t"`, `Action::"call"`, `User::""`, `NS::User::"alice"`, `Null::""`, `Null::"x"`)
	default:
		return g.setLit()
	}
}

func (g dgen) setLit() string {
	n := g.r.IntN(4)
	s := "["
	for i := range n {
		if i > 0 {
			s += ", "
		}
		switch g.r.IntN(4) {
		case 0:
			s += g.strLit()
		case 1:
			s += g.longLit()
		case 2:
			s += g.pick("true", "false")
		default:
			s += g.pick(`User::"alice"`, `Tool::"t"`, `Null::""`)
		}
	}
	return s + "]"
}

func (g dgen) base() string {
	return g.pick("principal", "context.args", "context.args", "context.agent", "context", `User::"alice"`, `User::"bob"`, "resource", "action",
		"context.args.a", "context.args.b", "context.args.a.b", "(if context.args.c then context.args.a else principal)")
}

func (g dgen) term(depth int) string {
	switch g.r.IntN(9) {
	case 0, 1:
		return g.lit()
	case 2, 3, 4:
		b := g.base()
		if g.r.IntN(3) == 0 {
			return b
		}
		return g.access(b)
	case 5:
		return "-" + g.pick("context.args.n", "context.args.x", "principal.n", "context.args.a.x", "(-9223372036854775807 - 1)", "context.args.big", "context.args.small")
	case 6:
		if g.r.IntN(3) == 0 {
			// Arithmetic, at the edges of 64 bits too (Cedar errs on an
			// overflow; the fast path defers to it).
			return "(" + g.pick("context.args.t", "context.args.n", "context.args.big", "principal.n", g.longLit()) + " " + g.pick("+", "-", "*") + " " +
				g.pick("context.args.u", "context.args.small", g.longLit(), "2", "-1") + ")"
		}
		return g.pick("principal.roles", "context.agent.chain", "context.args.n", "context.args.x", "context.args.big", "context.args.small", "context.args.f", "context.args.s")
	case 7:
		if depth > 0 {
			return "(if " + g.expr(depth-1) + " then " + g.term(depth-1) + " else " + g.term(depth-1) + ")"
		}
		return g.lit()
	default:
		if depth > 0 {
			return "(" + g.expr(depth-1) + ")"
		}
		return g.lit()
	}
}

func (g dgen) atom(depth int) string {
	switch g.r.IntN(9) {
	case 7, 8:
		// Well typed, on a small domain, so that equal and unequal both
		// come up: most random comparisons are mistyped (Cedar errs, the
		// fast path defers to it).
		return g.pick("context.args.t", "context.args.u", g.pick("-1", "0", "1")) + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " +
			g.pick("context.args.t", "context.args.u", "-1", "0", "1", "2")
	case 0:
		return g.term(depth) + " has " + g.hasName()
	case 1:
		return g.pick("principal.roles", "context.agent.chain", g.setLit(), g.term(depth)) + ".contains(" + g.term(depth) + ")"
	case 2:
		return g.term(depth) + " like " + g.pick(`"e*"`, `"*a*"`, `"emea"`, `"\*"`, `"*"`, `""`, `"**"`, `"a\*b*"`, `"*\*"`, `"é*"`, `"e*\u{301}"`, `"*5"`, `"\\*"`, `"a*b"`)
	case 3:
		switch g.r.IntN(6) {
		case 0:
			set := func() string {
				return g.pick("principal.roles", "context.agent.chain", g.setLit(), `["emea", "r"]`, `["loadgen", "emea"]`, "[]", g.term(depth))
			}
			return set() + g.pick(".containsAll(", ".containsAny(") + set() + ")"
		case 1:
			return g.pick("principal.roles", "context.agent.chain", g.setLit(), "[]", g.term(depth)) + ".isEmpty()"
		case 2:
			ent := func() string {
				return g.pick("principal", "resource", "action", `User::"alice"`, `User::"bob"`, `Tool::"t"`, `NS::User::"alice"`, `Null::""`, g.term(depth))
			}
			right := g.pick(ent(), "["+ent()+", "+ent()+"]", "[]", g.setLit(), "principal.roles")
			if g.r.IntN(2) == 0 {
				return ent() + " in " + right
			}
			return ent() + " is " + g.pick("User", "Tool", "Action", "NS::User", "Null") + " in " + right
		case 3:
			return g.pick("principal", "resource", "action", `NS::User::"alice"`, `Null::""`, g.term(depth)) + " is " + g.pick("User", "Tool", "Action", "NS::User", "Null")
		case 4:
			if g.r.IntN(2) == 0 {
				// At the edges of 64 bits: a wrapped result would decide
				// where Cedar errs.
				return "(" + g.pick("9223372036854775807", "-9223372036854775807", "(-9223372036854775807 - 1)", "4611686018427387904", "context.args.t") + " " + g.pick("+", "-", "*") + " " +
					g.pick("9223372036854775807", "4611686018427387904", "2", "-1", "1", "context.args.u") + ") " + g.pick("<", ">=", "==") + " 0"
			}
			// Well typed arithmetic on a small domain, so that it decides.
			return "context.args.t " + g.pick("+", "-", "*") + " " + g.pick("context.args.u", "1", "-1", "2") + " " + g.pick("==", "<", ">=") + " " + g.pick("0", "1", "-1", "context.args.u")
		}
		return g.pick("true", "false", g.term(depth))
	default:
		return g.term(depth) + " " + g.pick("==", "!=", "<", "<=", ">", ">=") + " " + g.term(depth)
	}
}

func (g dgen) expr(depth int) string {
	if depth <= 0 {
		return g.atom(0)
	}
	switch g.r.IntN(6) {
	case 0:
		return "(" + g.expr(depth-1) + " && " + g.expr(depth-1) + ")"
	case 1:
		return "(" + g.expr(depth-1) + " || " + g.expr(depth-1) + ")"
	case 2:
		return "!(" + g.expr(depth-1) + ")"
	case 3:
		return "(if " + g.expr(depth-1) + " then " + g.expr(depth-1) + " else " + g.expr(depth-1) + ")"
	default:
		return g.atom(depth - 1)
	}
}

func (g dgen) jsonScalar() any {
	switch g.r.IntN(14) {
	case 0:
		return g.pick("emea", "", "5", "é", "e\u0301", "*", "a*b", "alice", "-0", "true", "a\\*b", "ab")
	case 1:
		return json.Number(g.pick("0", "-0", "1", "5", "-1", "50", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.0", "1e2", "1E+2", "5e1", "100e-2", "0.5", "-0.0", "1e999", "1.00000", "007", "+5", "9007199254740993", "1e18", "1e19", "-9.223372036854775808e18", "0e5", "10e-1"))
	case 2:
		return g.pick2f(5, -1, 0, math.Copysign(0, -1), 0.5, 1e15, 1<<53, 1<<53-1, -(1 << 53), 1e19, 9.223372036854775807e18, -9.223372036854775808e18, 1e300, 2.5, 100, 1e-5)
	case 3:
		return g.r.IntN(2) == 0
	case 4, 11:
		return nil // JSON null: the entity Null::"" (see nullValue)
	case 5:
		// Lists, with nulls among their elements too.
		switch g.r.IntN(4) {
		case 0:
			return []any{"a", nil}
		case 1:
			return []any{nil}
		case 2:
			return []any{"emea", json.Number("1"), nil, map[string]any{"a": nil}}
		}
		return []any{json.Number("1"), "a"}
	case 6:
		return int64(g.pick2i(math.MinInt64, math.MaxInt64, -1, 0, 5))
	case 7:
		return uint64(g.pick2u(math.MaxUint64, 5, 1<<63))
	case 8:
		return float32(g.pick2f(0.5, 5, 16777217, 1e10))
	case 9:
		return int8(-3)
	case 10:
		return map[string]any(nil)
	default:
		return g.jsonScalar()
	}
}

func (g dgen) pick2f(xs ...float64) float64 { return xs[g.r.IntN(len(xs))] }
func (g dgen) pick2i(xs ...int64) int64     { return xs[g.r.IntN(len(xs))] }
func (g dgen) pick2u(xs ...uint64) uint64   { return xs[g.r.IntN(len(xs))] }

func (g dgen) jsonObj(depth int) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"t", "u"} {
		switch g.r.IntN(8) {
		case 0, 1:
		case 2:
			m[k] = nil // there, for has, and equal to no number
		default:
			m[k] = json.Number(g.pick("-1", "0", "1", "2"))
		}
	}
	for range g.r.IntN(5) {
		k := g.pick("a", "b", "x", "n", "c", "s", "f", "big", "small", "a b", "é", "", "region", "args")
		if depth > 0 && g.r.IntN(3) == 0 {
			m[k] = g.jsonObj(depth - 1)
		} else {
			m[k] = g.jsonScalar()
		}
	}
	return m
}

func (g dgen) principal() Principal {
	subj := g.pick("alice", "bob", "")
	roles := []string{}
	for range g.r.IntN(3) {
		roles = append(roles, g.pick("emea", "r", "5", "", "alice"))
	}
	var attrs map[string]string
	if g.r.IntN(4) > 0 {
		attrs = map[string]string{}
		for range g.r.IntN(4) {
			attrs[g.pick("region", "n", "roles", "x", "a", "a b", "é", "")] = g.pick("emea", "5", "", "-1", "é", "*", "9223372036854775807", "true")
		}
	}
	return Principal{Subject: subj, Roles: roles, Attributes: attrs}
}

func (g dgen) agent() Agent {
	a := Agent{ClientID: g.pick("", "loadgen", "emea", "*"), Kind: g.pick("agent", "service", "", "web")}
	// A delegation chain, headed by the client or not, with repeats.
	for range g.r.IntN(4) {
		a.Chain = append(a.Chain, g.pick(a.ClientID, "loadgen", "emea", "alice", ""))
	}
	return a
}

// cedarVerdict evaluates the condition's policy by Cedar directly.
func cedarVerdict(c *condition, p Principal, a Agent, tool string, args map[string]any) (allow bool, errored bool, convErr bool) {
	rec := emptyRecord
	if c.usesArgs {
		r, err := argsRecord(args)
		if err != nil {
			return false, true, true
		}
		rec = r
	}
	dec, diag := authorize(c.policy, p, a, tool, rec)
	return dec == cedar.Allow, len(diag.Errors) > 0, false
}

// TestFastPathAgreesWithCedarRandomly: the fast path (fast.go) decides a
// condition in its subset without Cedar; on random conditions of that
// subset and random people, agents and arguments (JSON of every kind,
// numbers at the edges of 64 bits and of floats), its verdict, the
// engine's, and the gate's must be Cedar's own. DIFF_SEED and DIFF_N pick
// another seed and more cases.
func TestFastPathAgreesWithCedarRandomly(t *testing.T) {
	seed := uint64(1)
	if s := os.Getenv("DIFF_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	n := 5000
	if s := os.Getenv("DIFF_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	g := dgen{rand.New(rand.NewPCG(seed, 7))}
	var compiled, fastCompiled, compared, fastAnswered, fastTrue, fastNull, falseVsErr, gateCmp int
	fails := 0
	for range n {
		src := g.expr(g.r.IntN(4))
		c, err := compileCondition(src)
		if err != nil {
			continue
		}
		compiled++
		if c.fast == nil {
			continue
		}
		fastCompiled++
		for range 12 {
			p, a := g.principal(), g.agent()
			tool := g.pick("t", "alice")
			args := g.jsonObj(2)
			if g.r.IntN(6) == 0 {
				args = nil
			}
			in := args
			if !c.usesArgs {
				in = nil
			}
			compared++
			wantAllow, wantErr, _ := cedarVerdict(c, p, a, tool, in)
			gotAllow, gotWhy := c.eval(p, a, tool, args)
			if gotAllow != wantAllow {
				fails++
				if fails < 20 {
					b, _ := json.Marshal(args)
					t.Errorf("DIVERGENCE eval: %s\n principal %+v agent %+v tool %q args %s (%#v)\n engine %v %q, cedar %v (err %v)", src, p, a, tool, b, args, gotAllow, gotWhy, wantAllow, wantErr)
				}
			}
			if in == nil || convertible(in) {
				if v, ok := c.fast(newFastEnv(p, a, tool, in)); ok && v.kind == fastBool {
					fastAnswered++
					if v.b {
						fastTrue++
					}
					if hasNull(in) {
						fastNull++
					}
					if v.b != wantAllow || (wantErr && !v.b) {
						if wantErr && !v.b && !wantAllow {
							falseVsErr++
							if falseVsErr < 5 {
								t.Logf("fast false where Cedar errors: %s  p=%+v a=%+v args=%#v", src, p, a, in)
							}
						} else {
							fails++
							if fails < 20 {
								t.Errorf("DIVERGENCE fast: %s\n principal %+v agent %+v tool %q args %#v\n fast %v, cedar %v (err %v)", src, p, a, tool, in, v.b, wantAllow, wantErr)
							}
						}
					}
				}
			}
			if c.gate != nil {
				gateCmp++
				dec, diag := authorize(c.gate, p, a, tool, emptyRecord)
				want := dec == cedar.Allow && len(diag.Errors) == 0
				if got := c.possible(p, a, tool); got != want {
					fails++
					if fails < 20 {
						t.Errorf("DIVERGENCE gate: %s p=%+v a=%+v: possible %v, cedar gate %v", src, p, a, got, want)
					}
				}
			}
		}
	}
	t.Logf("%s", fmt.Sprintf("compiled %d, fast %d, compared %d, fast answered %d (true %d, with a null in the arguments %d), fast-false-vs-cedar-error %d, gate %d, failures %d",
		compiled, fastCompiled, compared, fastAnswered, fastTrue, fastNull, falseVsErr, gateCmp, fails))
	// A generator that stopped reaching the fast path would compare nothing.
	if fastAnswered == 0 || fastTrue == 0 || fastTrue == fastAnswered || fastNull == 0 || gateCmp == 0 {
		t.Errorf("the cases do not exercise the fast path: answered %d (true %d, with a null %d), gates %d", fastAnswered, fastTrue, fastNull, gateCmp)
	}
}

// hasNull reports whether v holds a JSON null at any depth.
func hasNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	}
	return false
}

// FuzzFastPathAgreesWithCedar: the same comparison on fuzzed conditions,
// arguments and people.
func FuzzFastPathAgreesWithCedar(f *testing.F) {
	g := dgen{rand.New(rand.NewPCG(3, 4))}
	for range 300 {
		b, _ := json.Marshal(g.jsonObj(2))
		f.Add(g.expr(g.r.IntN(4)), string(b), g.pick("alice", "bob"), g.pick("emea", "5", "é", ""), g.pick("r", "emea"), g.pick("agent", ""))
	}
	f.Add(`context.args.n like "\*"`, `{"n":"*"}`, "alice", "emea", "r", "agent")
	f.Add(`-context.args.n > 0`, `{"n":-9223372036854775808}`, "alice", "emea", "r", "agent")
	f.Fuzz(func(t *testing.T, src, argsJSON, subj, attr, role, kind string) {
		c, err := compileCondition(src)
		if err != nil || c.fast == nil {
			return
		}
		var args map[string]any
		dec := json.NewDecoder(stringsReader(argsJSON))
		dec.UseNumber()
		if dec.Decode(&args) != nil {
			args = nil
		}
		p := Principal{Subject: subj, Roles: []string{role}, Attributes: map[string]string{"region": attr, "n": attr}}
		a := Agent{ClientID: attr, Kind: kind}
		for _, tool := range []string{"t", subj} {
			in := args
			if !c.usesArgs {
				in = nil
			}
			wantAllow, wantErr, _ := cedarVerdict(c, p, a, tool, in)
			gotAllow, why := c.eval(p, a, tool, args)
			if gotAllow != wantAllow {
				t.Fatalf("DIVERGENCE %s p=%+v a=%+v tool=%q args=%s: engine %v %q cedar %v err %v", src, p, a, tool, argsJSON, gotAllow, why, wantAllow, wantErr)
			}
			if in == nil || convertible(in) {
				if v, ok := c.fast(newFastEnv(p, a, tool, in)); ok && v.kind == fastBool && (v.b != wantAllow || wantErr) {
					t.Fatalf("DIVERGENCE fast %s p=%+v a=%+v tool=%q args=%s: fast %v cedar %v err %v", src, p, a, tool, argsJSON, v.b, wantAllow, wantErr)
				}
			}
			if c.gate != nil {
				d, diag := authorize(c.gate, p, a, tool, emptyRecord)
				if got, want := c.possible(p, a, tool), d == cedar.Allow && len(diag.Errors) == 0; got != want {
					t.Fatalf("gate %s: %v vs %v", src, got, want)
				}
			}
		}
	})
}

func stringsReader(s string) *stringsReaderT { return &stringsReaderT{s: s} }

type stringsReaderT struct{ s string }

func (r *stringsReaderT) Read(b []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(b, r.s)
	r.s = r.s[n:]
	return n, nil
}
