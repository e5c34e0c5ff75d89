package policy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNullArguments: JSON null reaches the backend, so the condition sees
// it, as the entity Null::"": a member whose value is null is there; null
// equals no other value; ordering, arithmetic, like, negation and
// attribute access on it are errors, which deny with Cedar's reason; a
// list holding a null contains a value no list of other literals does;
// `is Null` tests for it. Each case is decided by the engine (fast path
// where it answers) and must be Cedar's decision, with Cedar's reason.
func TestNullArguments(t *testing.T) {
	const granted = "role r is granted t"
	p := Principal{Subject: "alice", Roles: []string{"r"}}
	isTrue := func(c string) string { return "condition `" + c + "` is true" }
	isFalse := func(c string) string { return "condition `" + c + "` is false" }
	failed := func(c, msg string) string { return "condition `" + c + "` could not be evaluated: " + msg }
	const notComparable = "type error: expected comparable value, got (entity of type `Null`)"
	for _, tc := range []struct {
		cond, args string
		allow      bool
		why        string
		fast       bool // the fast path answers, without Cedar
	}{
		// has: a null member is there (JSON Merge Patch: it removes the
		// member, which the condition meant to keep out of reach).
		{`!(context.args has manager)`, `{"name":"Carol","manager":null}`, false, isFalse(`!(context.args has manager)`), true},
		{`!(context.args has manager)`, `{"name":"Carol"}`, true, isTrue(`!(context.args has manager)`), true},
		{`context.args has manager`, `{"manager":null}`, true, isTrue(`context.args has manager`), true},
		{`context.args.order has note`, `{"order":{"note":null}}`, true, isTrue(`context.args.order has note`), true},
		{`context.args has order.note`, `{"order":{"note":null}}`, true, isTrue(`context.args has order.note`), true},
		// Equality: null equals no string, number or boolean.
		{`context.args.manager == "bob"`, `{"manager":null}`, false, isFalse(`context.args.manager == "bob"`), true},
		{`context.args.manager != "bob"`, `{"manager":null}`, true, isTrue(`context.args.manager != "bob"`), true},
		{`context.args.n == 0`, `{"n":null}`, false, isFalse(`context.args.n == 0`), true},
		{`context.args.b == false`, `{"b":null}`, false, isFalse(`context.args.b == false`), true},
		// is Null, and the literal, for a condition that means null.
		{`context.args.manager is Null`, `{"manager":null}`, true, isTrue(`context.args.manager is Null`), true},
		// is is a type error on a value that is not an entity: == Null::""
		// is the test for null that is false, not an error, otherwise.
		{`context.args.manager is Null`, `{"manager":"bob"}`, false,
			failed(`context.args.manager is Null`, "type error: expected (entity of type `any_entity_type`), got string"), false},
		{`context.args.manager == Null::"" || context.args.manager == "bob"`, `{"manager":"bob"}`, true,
			isTrue(`context.args.manager == Null::"" || context.args.manager == "bob"`), true},
		{`!(context.args has manager) || context.args.manager is Null`, `{"manager":null}`, true, isTrue(`!(context.args has manager) || context.args.manager is Null`), true},
		{`context.args.manager == Null::""`, `{"manager":null}`, true, isTrue(`context.args.manager == Null::""`), true},
		{`context.args.manager has id`, `{"manager":null}`, false, isFalse(`context.args.manager has id`), true},
		// Errors: ordering, arithmetic, like, !, attribute access.
		{`context.args.limit <= 100`, `{"limit":null}`, false, failed(`context.args.limit <= 100`, notComparable), false},
		{`!(context.args has limit) || context.args.limit <= 100`, `{"limit":null}`, false,
			failed(`!(context.args has limit) || context.args.limit <= 100`, notComparable), false},
		{`context.args.limit + 1 > 0`, `{"limit":null}`, false, failed(`context.args.limit + 1 > 0`, "type error: expected long, got (entity of type `Null`)"), false},
		{`context.args.name like "C*"`, `{"name":null}`, false, failed(`context.args.name like "C*"`, "type error: expected string, got (entity of type `Null`)"), false},
		{`!context.args.force`, `{"force":null}`, false, failed(`!context.args.force`, "type error: expected bool, got (entity of type `Null`)"), false},
		{`context.args.manager.id == "bob"`, `{"manager":null}`, false, failed(`context.args.manager.id == "bob"`, "entity `Null::\"…\"` does not exist"), false},
		// Sets: a null is an element.
		{`["emea", "amer"].containsAll(context.args.regions)`, `{"regions":["emea"]}`, true, isTrue(`["emea", "amer"].containsAll(context.args.regions)`), false},
		{`["emea", "amer"].containsAll(context.args.regions)`, `{"regions":["emea",null]}`, false, isFalse(`["emea", "amer"].containsAll(context.args.regions)`), false},
		{`["emea", "amer"].containsAll(context.args.regions)`, `{"regions":[null]}`, false, isFalse(`["emea", "amer"].containsAll(context.args.regions)`), false},
		{`context.args.regions.contains("emea")`, `{"regions":["emea",null]}`, true, isTrue(`context.args.regions.contains("emea")`), false},
		{`context.args.regions.isEmpty()`, `{"regions":[null]}`, false, isFalse(`context.args.regions.isEmpty()`), false},
		{`context.args.regions.containsAny(["emea"])`, `{"regions":[{"a":null}]}`, false, isFalse(`context.args.regions.containsAny(["emea"])`), false},
	} {
		var args map[string]any
		d := json.NewDecoder(stringsReader(tc.args))
		d.UseNumber()
		if err := d.Decode(&args); err != nil {
			t.Fatal(err)
		}
		s := mustCompile(t, []Rule{{Tool: "t", Roles: []string{"r"}, When: tc.cond}})
		got := s.Decide(Request{Principal: p, Tool: "t", Args: args})
		want := Decision{Allow: tc.allow, Policy: "tool:t", Reasons: []string{granted, tc.why}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s with %s (-want +got):\n%s", tc.cond, tc.args, diff)
		}
		c := s.rules["t"].cond
		if ok, why := c.evalCedar(p, Agent{}, "t", args); ok != tc.allow || why != tc.why {
			t.Errorf("%s with %s: Cedar alone says %v %q", tc.cond, tc.args, ok, why)
		}
		fastAnswered := false
		if c.fast != nil {
			v, ok := c.fast(newFastEnv(p, Agent{}, "t", args))
			fastAnswered = ok && v.kind == fastBool
		}
		if fastAnswered != tc.fast {
			t.Errorf("%s with %s: the fast path answered: %v, want %v", tc.cond, tc.args, fastAnswered, tc.fast)
		}
	}
}

// TestNullArgumentsVisible: a condition over the arguments that can hold
// is still listed whatever nulls a call may bring; its gate alone decides.
func TestNullArgumentsVisible(t *testing.T) {
	s := mustCompile(t, []Rule{
		{Tool: "update_profile", Roles: []string{"r"}, When: `!(context.args has manager)`},
		{Tool: "regional_export", Roles: []string{"r"}, When: `["emea", "amer"].containsAll(context.args.regions)`},
		{Tool: "nullable", Roles: []string{"r"}, When: `context.args.manager is Null && principal.region == "emea"`},
	})
	for _, tc := range []struct {
		p    Principal
		want []string
	}{
		{Principal{Subject: "a", Roles: []string{"r"}, Attributes: map[string]string{"region": "emea"}}, []string{"nullable", "regional_export", "update_profile"}},
		{Principal{Subject: "b", Roles: []string{"r"}, Attributes: map[string]string{"region": "us"}}, []string{"regional_export", "update_profile"}},
	} {
		if diff := cmp.Diff(tc.want, s.Visible(tc.p, assistant)); diff != "" {
			t.Errorf("Visible for %s (-want +got):\n%s", tc.p.Subject, diff)
		}
	}
}
