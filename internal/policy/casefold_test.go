package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/casefold"
)

// TestCaseVariantKeys: a key that is not a name the condition reads, but
// folds to one, is refused, at any depth, with a reason naming both; the
// attributes of the principal, the agent and the context are no argument's
// and refuse nothing, nor does a tool whose condition reads no argument.
func TestCaseVariantKeys(t *testing.T) {
	const (
		deploy   = `!(context.args has force) && (!(context.args has limit) || context.args.limit <= 100)`
		long     = "a_rather_long_argument_name_that_does_not_fit_in_sixty_four_bytes_at_all"
		granted  = "role r is granted "
		variant  = "argument key %q differs only by case from %q, which condition `%s` reads"
		kelvin   = "\u212a" // K, the Kelvin sign, which folds with k
		longSign = "\u017f" // ſ, the long s, which folds with s
	)
	rules := []Rule{
		{Tool: "deploy", Roles: []string{"r"}, When: deploy},
		{Tool: "key", Roles: []string{"r"}, When: `!(context.args has key)`},
		{Tool: "scope", Roles: []string{"r"}, When: `context.args.scope == "read"`},
		{Tool: "accent", Roles: []string{"r"}, When: `context.args["é"] == 1`},
		{Tool: "long", Roles: []string{"r"}, When: "context.args." + long + " == 1"},
		{Tool: "nested", Roles: []string{"r"}, When: `!(context.args.order has rush)`},
		{Tool: "literal", Roles: []string{"r"}, When: `context.args.opts != {force: true}`},
		{Tool: "both", Roles: []string{"r"}, When: `!(context.args has force) && !(context.args has Force)`},
		{Tool: "outside", Roles: []string{"r"}, When: `principal.region == "emea" && context.agent.kind == "agent" && context has args && context.args.n == 1`},
		{Tool: "no_args", Roles: []string{"r"}, When: `principal.region == "emea"`},
		{Tool: "plain", Roles: []string{"r"}},
	}
	s := mustCompile(t, rules)
	when := map[string]string{}
	for _, r := range rules {
		when[r.Tool] = r.When
	}
	p := Principal{Subject: "alice", Roles: []string{"r"}, Attributes: map[string]string{"region": "emea"}}
	a := Agent{ClientID: "c", Kind: "agent"}
	for _, tc := range []struct {
		tool, args string
		key, name  string // the variant refused; "" when the call is not refused for one
		allow      bool
	}{
		{tool: "deploy", args: `{"service":"web"}`, allow: true},
		{tool: "deploy", args: `{"service":"web","limit":50}`, allow: true},
		{tool: "deploy", args: `{"service":"web","Force":true}`, key: "Force", name: "force"},
		{tool: "deploy", args: `{"service":"web","LIMIT":5000}`, key: "LIMIT", name: "limit"},
		{tool: "deploy", args: `{"service":"web","limit":5000}`}, // refused by the condition itself
		{tool: "deploy", args: `{"LIMIT":5000,"Force":true}`, key: "Force", name: "force"},
		{tool: "deploy", args: `{"items":[{"sku":"a"},{"FORCE":true}]}`, key: "FORCE", name: "force"}, // at any depth
		{tool: "deploy", args: `{"Service":"web"}`, allow: true},                                      // not a name the condition reads
		{tool: "key", args: `{"` + kelvin + `ey":1}`, key: kelvin + "ey", name: "key"},
		{tool: "scope", args: `{"` + longSign + `cope":"admin","scope":"read"}`, key: longSign + "cope", name: "scope"},
		{tool: "scope", args: `{"scope":"read"}`, allow: true},
		{tool: "accent", args: `{"É":1}`, key: "É", name: "é"},
		{tool: "accent", args: `{"é":1}`, allow: true},
		{tool: "long", args: `{"` + strings.ToUpper(long) + `":1}`, key: strings.ToUpper(long), name: long},
		{tool: "long", args: `{"` + long + `":1}`, allow: true},
		{tool: "nested", args: `{"order":{"Rush":true}}`, key: "Rush", name: "rush"},
		{tool: "nested", args: `{"order":{"note":"x"}}`, allow: true},
		{tool: "literal", args: `{"opts":{"Force":true}}`, key: "Force", name: "force"},
		{tool: "literal", args: `{"opts":{"force":false}}`, allow: true},
		{tool: "both", args: `{"FORCE":true}`, key: "FORCE", name: "force"},
		{tool: "both", args: `{"Force":true}`}, // a name it reads: refused by the condition itself
		{tool: "outside", args: `{"n":1,"Region":"us","Kind":"x","Args":{},"Agent":1}`, allow: true},
		{tool: "no_args", args: `{"Region":"us"}`, allow: true},
		{tool: "plain", args: `{"Force":true}`, allow: true},
	} {
		var args map[string]any
		if err := json.Unmarshal([]byte(tc.args), &args); err != nil {
			t.Fatal(err)
		}
		for range 5 { // map order must not change the reason
			d := s.Decide(Request{Principal: p, Agent: a, Tool: tc.tool, Args: args})
			if tc.key == "" {
				if d.Allow != tc.allow || strings.Contains(d.Reasons[len(d.Reasons)-1], "differs only by case") {
					t.Errorf("%s %s: %+v, want allow %v by the condition", tc.tool, tc.args, d, tc.allow)
					break
				}
				continue
			}
			want := Decision{Policy: "tool:" + tc.tool, Reasons: []string{granted + tc.tool, fmt.Sprintf(variant, tc.key, tc.name, when[tc.tool])}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tc.tool, tc.args, diff)
				break
			}
		}
	}
}

// TestReadNames pins which names a condition is taken to read arguments
// by: every attribute accessed or tested with has, and every key of a
// record literal, but those of principal, resource, action, context,
// context.agent and entity literals.
func TestReadNames(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want []string
	}{
		{`context.args.amount <= 50 && principal.region == "emea"`, []string{"amount"}},
		{`context.args has order.note`, []string{"note", "order"}},
		{`context.args.a.b.c == 1`, []string{"a", "b", "c"}},
		{`context.agent.kind == "agent" && context has args && context.args.n == 1 && resource has x && action has y && User::"a" has z`, []string{"n"}},
		{`(if context.args.c then context.args.a else principal).x == 1`, []string{"a", "c", "x"}}, // x may be an argument's
		{`context.args.opts != {force: true, nested: {Deep: 1}}`, []string{"Deep", "force", "nested", "opts"}},
		{`context.args == {force: true}`, []string{"force"}},
		{`context.args["a b"] == 1 && context.args["é"] == 2`, []string{"a b", "é"}},
		{`context.args.force && context.args.Force`, []string{"Force", "force"}},
		{`principal.region == "emea"`, nil},
		{`context.args.list.contains(1)`, []string{"list"}},
	} {
		c, err := compileCondition(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if c.names != nil {
			for _, g := range c.names.groups {
				for _, n := range g.names {
					if casefold.Key(n) != g.fold {
						t.Errorf("%s: %q kept under %q, not its fold", tc.cond, n, g.fold)
					}
					if c.names.lens&lenBit(len(g.fold)) == 0 {
						t.Errorf("%s: the length of %q is not in lens", tc.cond, g.fold)
					}
					got = append(got, n)
				}
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: names (-want +got):\n%s", tc.cond, diff)
		}
	}
}

// TestFoldNameIsEncodingJSONs: casefold.Key equates exactly the names that
// encoding/json matches a field by, and strings.EqualFold (slipverify's
// fold, which the gateway's canonicalizer uses, is pinned to it too);
// variantOf's ASCII fold on the stack is casefold.Key's.
func TestFoldNameIsEncodingJSONs(t *testing.T) {
	names := []string{
		"force", "Force", "FORCE", "fORCE", "key", "Key", "\u212aey", "scope", "SCOPE", "\u017fcope",
		"é", "É", "e\u0301", "straße", "STRASSE", "STRAẞE", "σ", "ς", "Σ", "ǆ", "ǅ", "Ǆ", "i", "I", "İ", "ı",
		"a b", "A B", "", "_", "x1", "X1", "ω", "Ω", "\u2126", // the Ohm sign folds with ω
	}
	for _, x := range names {
		for _, y := range names {
			want := strings.EqualFold(x, y)
			if got := casefold.Key(x) == casefold.Key(y); got != want {
				t.Errorf("casefold.Key(%q) == casefold.Key(%q) is %v, strings.EqualFold %v", x, y, got, want)
			}
			if y == "" || !jsonMatches(y, y) { // not a valid tag (e\u0301): no field of that name
				continue
			}
			if got := jsonMatches(x, y); got != want {
				t.Errorf("encoding/json fills field %q from key %q: %v, strings.EqualFold %v", y, x, got, want)
			}
		}
		c := &argNames{groups: []nameGroup{{fold: casefold.Key(x), names: []string{x}}}, lens: lenBit(len(casefold.Key(x)))}
		for _, y := range names {
			if _, got := c.variantOf(y); got != (y != x && casefold.Key(y) == casefold.Key(x)) {
				t.Errorf("variantOf(%q) with %q read: %v", y, x, got)
			}
		}
	}
}

// jsonMatches reports whether encoding/json decodes the key into the
// field named name.
func jsonMatches(key, name string) bool {
	typ := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[int](), Tag: reflect.StructTag(`json:"` + name + `"`)}})
	v := reflect.New(typ)
	b, _ := json.Marshal(map[string]int{key: 1})
	if err := json.Unmarshal(b, v.Interface()); err != nil {
		panic(err)
	}
	return v.Elem().Field(0).Int() == 1
}

// TestCaseVariantCostsNoAllocation: the check runs on every call of a
// tool whose condition reads the arguments.
func TestCaseVariantCostsNoAllocation(t *testing.T) {
	c, err := compileCondition(`context.args.amount <= 50 && !(context.args has force)`)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"amount": json.Number("20"), "note": "refund for order 1234", "lines": []any{map[string]any{"sku": "a"}}}
	if n := testing.AllocsPerRun(100, func() {
		if why := c.caseVariant(args); why != "" {
			t.Fatal(why)
		}
	}); n != 0 {
		t.Errorf("caseVariant allocates %v times a call", n)
	}
}

// BenchmarkCaseVariant is the case check alone, on BenchmarkDecide's
// arguments and on larger ones (40 keys, half of them in a list).
func BenchmarkCaseVariant(b *testing.B) {
	c, err := compileCondition(`context.args.amount <= 50 && principal.region == "emea"`)
	if err != nil {
		b.Fatal(err)
	}
	large := map[string]any{"amount": json.Number("20")}
	var lines []any
	for i := range 20 {
		large[fmt.Sprintf("field_%02d", i)] = "value"
		lines = append(lines, map[string]any{fmt.Sprintf("Sku_%02d", i): "a"})
	}
	large["lines"] = lines
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"bench-args", map[string]any{"amount": json.Number("20"), "note": "refund for order 1234"}},
		{"40-keys", large},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c.caseVariant(tc.args) != "" {
					b.Fatal("refused")
				}
			}
		})
	}
}
