package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// catalogue is the rule set most tests decide against.
var catalogue = []Rule{
	{Tool: "sales_report", Roles: []string{"sales-manager"}},
	{Tool: "payroll_report", Roles: []string{"hr"}},
	{Tool: "refund", Roles: []string{"support"}, When: "context.args.amount <= 50"},
	{Tool: "emea_report", Roles: []string{"sales-manager"}, When: `principal.region == "emea"`},
	{Tool: "assistant_only", Roles: []string{"sales-manager"}, When: `context.agent.client_id == "acme-assistant"`},
	{Tool: "agents_only", Roles: []string{"sales-manager"}, When: `context.agent.kind == "agent"`},
	{Tool: "admin_tool", Roles: []string{"admin"}},
	{Tool: "nobody"},
	{Tool: "support_check", Roles: []string{"support"}, When: `principal.roles.contains("support") && resource == Tool::"support_check" && action == Action::"call"`},
	{Tool: "tagged", Roles: []string{"support"}, When: `context.args.tags.contains("urgent")`},
	{Tool: "ratio", Roles: []string{"support"}, When: `context.args.ratio.lessThanOrEqual(decimal("0.5"))`},
	{Tool: "nested", Roles: []string{"support"}, When: `context.args.order.lines.containsAny([1, 2]) && context.args.order.rush`},
	{Tool: "commented", Roles: []string{"support"}, When: "true // a trailing comment must not eat the closing brace"},
}

func mustCompile(t testing.TB, rules []Rule) *Set {
	t.Helper()
	s, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

var (
	alice = Principal{Subject: "alice", Roles: []string{"sales-manager"}, Attributes: map[string]string{"region": "emea"}}
	bob   = Principal{Subject: "bob", Roles: []string{"support"}}
	carol = Principal{Subject: "carol", Roles: []string{"admin"}}
	dave  = Principal{Subject: "dave", Roles: []string{"viewer", "sales-manager"}, Attributes: map[string]string{"region": "us"}}
	erin  = Principal{Subject: "erin", Roles: []string{"sales-manager"}} // no region

	assistant = Agent{ClientID: "acme-assistant", Kind: "agent"}
	cursor    = Agent{ClientID: "cursor", Kind: "native"}
)

func capped(a Agent, tools ...string) Agent {
	if tools == nil {
		tools = []string{}
	}
	a.Tools = tools
	return a
}

func TestDecide(t *testing.T) {
	s := mustCompile(t, catalogue)
	const refundCond = "condition `context.args.amount <= 50`"
	tests := []struct {
		name string
		req  Request
		want Decision
		// errPrefix, when set, must begin the last reason, which is then
		// compared as errPrefix alone: the rest is cedar-go's wording.
		errPrefix string
	}{
		{
			name: "unknown tool",
			req:  Request{Principal: alice, Agent: assistant, Tool: "delete_everything"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"unknown tool"}},
		},
		{
			name: "role granted",
			req:  Request{Principal: alice, Agent: assistant, Tool: "sales_report"},
			want: Decision{Allow: true, Policy: "tool:sales_report", Reasons: []string{"role sales-manager is granted sales_report"}},
		},
		{
			name: "second role granted",
			req:  Request{Principal: dave, Agent: assistant, Tool: "sales_report"},
			want: Decision{Allow: true, Policy: "tool:sales_report", Reasons: []string{"role sales-manager is granted sales_report"}},
		},
		{
			name: "no role granted",
			req:  Request{Principal: alice, Agent: assistant, Tool: "payroll_report"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of alice is granted payroll_report"}},
		},
		{
			name: "tool granted to no role",
			req:  Request{Principal: alice, Agent: assistant, Tool: "nobody"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of alice is granted nobody"}},
		},
		{
			name: "principal without roles",
			req:  Request{Principal: Principal{Subject: "zed"}, Agent: assistant, Tool: "sales_report"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of zed is granted sales_report"}},
		},
		{
			name: "admin has no implicit tool access",
			req:  Request{Principal: carol, Agent: assistant, Tool: "sales_report"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of carol is granted sales_report"}},
		},
		{
			name: "admin granted by a rule",
			req:  Request{Principal: carol, Agent: assistant, Tool: "admin_tool"},
			want: Decision{Allow: true, Policy: "tool:admin_tool", Reasons: []string{"role admin is granted admin_tool"}},
		},
		{
			name: "agent cap includes tool",
			req:  Request{Principal: alice, Agent: capped(assistant, "sales_report"), Tool: "sales_report"},
			want: Decision{Allow: true, Policy: "tool:sales_report", Reasons: []string{"role sales-manager is granted sales_report"}},
		},
		{
			name: "agent cap excludes tool",
			req:  Request{Principal: alice, Agent: capped(assistant, "payroll_report"), Tool: "sales_report"},
			want: Decision{Policy: PolicyAgentCap, Reasons: []string{
				"role sales-manager is granted sales_report",
				"agent acme-assistant's tool cap excludes sales_report",
			}},
		},
		{
			name: "empty agent cap allows nothing",
			req:  Request{Principal: alice, Agent: capped(assistant), Tool: "sales_report"},
			want: Decision{Policy: PolicyAgentCap, Reasons: []string{
				"role sales-manager is granted sales_report",
				"agent acme-assistant's tool cap excludes sales_report",
			}},
		},
		{
			name: "agent cap never widens the grant",
			req:  Request{Principal: alice, Agent: capped(assistant, "payroll_report"), Tool: "payroll_report"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of alice is granted payroll_report"}},
		},
		{
			name: "no role and outside the cap",
			req:  Request{Principal: alice, Agent: capped(assistant, "sales_report"), Tool: "payroll_report"},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{
				"no role of alice is granted payroll_report",
				"agent acme-assistant's tool cap excludes payroll_report",
			}},
		},
		{
			name: "args condition true (json.Number)",
			req:  Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": json.Number("20")}},
			want: Decision{Allow: true, Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " is true"}},
		},
		{
			name: "args condition true (float64)",
			req:  Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": float64(50)}},
			want: Decision{Allow: true, Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " is true"}},
		},
		{
			name: "args condition false",
			req:  Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": json.Number("80")}},
			want: Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " is false"}},
		},
		{
			name:      "args condition with missing argument",
			req:       Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{}},
			want:      Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " could not be evaluated: "}},
			errPrefix: refundCond + " could not be evaluated: ",
		},
		{
			name:      "args condition with nil args",
			req:       Request{Principal: bob, Agent: assistant, Tool: "refund"},
			want:      Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " could not be evaluated: "}},
			errPrefix: refundCond + " could not be evaluated: ",
		},
		{
			name:      "args condition with null argument",
			req:       Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": nil}},
			want:      Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " could not be evaluated: "}},
			errPrefix: refundCond + " could not be evaluated: ",
		},
		{
			name:      "args condition with type error",
			req:       Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": "20"}},
			want:      Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " could not be evaluated: "}},
			errPrefix: refundCond + " could not be evaluated: ",
		},
		{
			// Cedar's <= compares Longs only, so a decimal amount is a type
			// error, and an error denies.
			name:      "args condition with decimal against Long",
			req:       Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": 12.5}},
			want:      Decision{Policy: "tool:refund", Reasons: []string{"role support is granted refund", refundCond + " could not be evaluated: "}},
			errPrefix: refundCond + " could not be evaluated: ",
		},
		{
			name: "args without a Cedar form",
			req:  Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": json.Number("0.12345")}},
			want: Decision{Policy: "tool:refund", Reasons: []string{
				"role support is granted refund",
				"arguments cannot be checked against condition `context.args.amount <= 50`: args.amount: a number with more than 4 decimal places, beyond a Cedar decimal",
			}},
		},
		{
			name: "decimal argument",
			req:  Request{Principal: bob, Agent: assistant, Tool: "ratio", Args: map[string]any{"ratio": 0.25}},
			want: Decision{Allow: true, Policy: "tool:ratio", Reasons: []string{
				"role support is granted ratio",
				"condition `context.args.ratio.lessThanOrEqual(decimal(\"0.5\"))` is true",
			}},
		},
		{
			// The null is in the set too (as Null::""), which does not
			// stop it containing "urgent": see TestNullArguments.
			name: "set argument holding a null",
			req:  Request{Principal: bob, Agent: assistant, Tool: "tagged", Args: map[string]any{"tags": []any{"urgent", nil, json.Number("3")}}},
			want: Decision{Allow: true, Policy: "tool:tagged", Reasons: []string{
				"role support is granted tagged",
				"condition `context.args.tags.contains(\"urgent\")` is true",
			}},
		},
		{
			name: "record argument",
			req: Request{Principal: bob, Agent: assistant, Tool: "nested", Args: map[string]any{
				"order": map[string]any{"lines": []any{float64(2), float64(7)}, "rush": true, "note": nil},
			}},
			want: Decision{Allow: true, Policy: "tool:nested", Reasons: []string{
				"role support is granted nested",
				"condition `context.args.order.lines.containsAny([1, 2]) && context.args.order.rush` is true",
			}},
		},
		{
			name: "principal attribute condition true",
			req:  Request{Principal: alice, Agent: assistant, Tool: "emea_report"},
			want: Decision{Allow: true, Policy: "tool:emea_report", Reasons: []string{
				"role sales-manager is granted emea_report",
				"condition `principal.region == \"emea\"` is true",
			}},
		},
		{
			name: "principal attribute condition false",
			req:  Request{Principal: dave, Agent: assistant, Tool: "emea_report"},
			want: Decision{Policy: "tool:emea_report", Reasons: []string{
				"role sales-manager is granted emea_report",
				"condition `principal.region == \"emea\"` is false",
			}},
		},
		{
			name: "principal attribute missing",
			req:  Request{Principal: erin, Agent: assistant, Tool: "emea_report"},
			want: Decision{Policy: "tool:emea_report", Reasons: []string{
				"role sales-manager is granted emea_report",
				"condition `principal.region == \"emea\"` could not be evaluated: ",
			}},
			errPrefix: "condition `principal.region == \"emea\"` could not be evaluated: ",
		},
		{
			name: "condition ignores args it does not read",
			req:  Request{Principal: alice, Agent: assistant, Tool: "emea_report", Args: map[string]any{"x": json.Number("1e400")}},
			want: Decision{Allow: true, Policy: "tool:emea_report", Reasons: []string{
				"role sales-manager is granted emea_report",
				"condition `principal.region == \"emea\"` is true",
			}},
		},
		{
			name: "agent condition true",
			req:  Request{Principal: alice, Agent: assistant, Tool: "assistant_only"},
			want: Decision{Allow: true, Policy: "tool:assistant_only", Reasons: []string{
				"role sales-manager is granted assistant_only",
				"condition `context.agent.client_id == \"acme-assistant\"` is true",
			}},
		},
		{
			name: "agent condition false",
			req:  Request{Principal: alice, Agent: cursor, Tool: "assistant_only"},
			want: Decision{Policy: "tool:assistant_only", Reasons: []string{
				"role sales-manager is granted assistant_only",
				"condition `context.agent.client_id == \"acme-assistant\"` is false",
			}},
		},
		{
			name: "agent kind condition",
			req:  Request{Principal: alice, Agent: cursor, Tool: "agents_only"},
			want: Decision{Policy: "tool:agents_only", Reasons: []string{
				"role sales-manager is granted agents_only",
				"condition `context.agent.kind == \"agent\"` is false",
			}},
		},
		{
			name: "roles set, resource and action in a condition",
			req:  Request{Principal: bob, Agent: assistant, Tool: "support_check"},
			want: Decision{Allow: true, Policy: "tool:support_check", Reasons: []string{
				"role support is granted support_check",
				"condition `principal.roles.contains(\"support\") && resource == Tool::\"support_check\" && action == Action::\"call\"` is true",
			}},
		},
		{
			name: "a roles attribute cannot spoof the roles set",
			req: Request{
				Principal: Principal{Subject: "mallory", Roles: []string{"support-lead", "support"}, Attributes: map[string]string{"roles": "hr"}},
				Agent:     assistant, Tool: "support_check",
			},
			want: Decision{Allow: true, Policy: "tool:support_check", Reasons: []string{
				"role support is granted support_check",
				"condition `principal.roles.contains(\"support\") && resource == Tool::\"support_check\" && action == Action::\"call\"` is true",
			}},
		},
		{
			name: "trailing comment in a condition",
			req:  Request{Principal: bob, Agent: assistant, Tool: "commented"},
			want: Decision{Allow: true, Policy: "tool:commented", Reasons: []string{
				"role support is granted commented",
				"condition `true // a trailing comment must not eat the closing brace` is true",
			}},
		},
		{
			name: "condition not reached without a role",
			req:  Request{Principal: alice, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": json.Number("1")}},
			want: Decision{Policy: PolicyDefaultDeny, Reasons: []string{"no role of alice is granted refund"}},
		},
		{
			name: "condition not reached outside the cap",
			req:  Request{Principal: bob, Agent: capped(assistant, "tagged"), Tool: "refund", Args: map[string]any{"amount": json.Number("1")}},
			want: Decision{Policy: PolicyAgentCap, Reasons: []string{
				"role support is granted refund",
				"agent acme-assistant's tool cap excludes refund",
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Decide(tc.req)
			if tc.errPrefix != "" && len(got.Reasons) > 0 {
				last := &got.Reasons[len(got.Reasons)-1]
				if !strings.HasPrefix(*last, tc.errPrefix) || len(*last) == len(tc.errPrefix) {
					t.Errorf("last reason %q: want %q followed by the error", *last, tc.errPrefix)
				}
				*last = tc.errPrefix
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileRejectsInjection(t *testing.T) {
	for _, cond := range []string{
		`true }; permit (principal, action, resource) when { true`,
		`true };  permit(principal, action, resource);  permit(principal, action, resource) when { true`,
		`false } unless { false`,
		`false } when { true`,
		`true }; @id("x") forbid (principal, action, resource) when { true`,
		"true };\npermit (principal, action, resource) when {\ntrue",
		`true }; permit (principal, action, resource) when { true }; //`,
		`true };`,
		`}`,
		`{`,
	} {
		t.Run(cond, func(t *testing.T) {
			s, err := Compile([]Rule{{Tool: "payroll_report", Roles: []string{"hr"}, When: cond}})
			if err == nil {
				t.Fatalf("Compile accepted %q; Decide for a stranger: %+v", cond,
					s.Decide(Request{Principal: alice, Tool: "payroll_report"}))
			}
			if !errors.Is(err, ErrCondition) {
				t.Errorf("error %v does not wrap ErrCondition", err)
			}
			if !strings.Contains(err.Error(), `tool "payroll_report"`) {
				t.Errorf("error %q does not name the tool", err)
			}
		})
	}
}

func TestCompileReportsEveryBadRule(t *testing.T) {
	_, err := Compile([]Rule{
		{Tool: "good", Roles: []string{"a"}, When: "context.args.n < 3"},
		{Tool: "syntax", Roles: []string{"a"}, When: "context.args.amount <="},
		{Tool: "unknown_var", Roles: []string{"a"}, When: "user.region == 1"},
		{Tool: "two_policies", Roles: []string{"a"}, When: "true }; permit (principal, action, resource) when { true"},
		{Tool: "good", Roles: []string{"a"}},
		{Tool: "", Roles: []string{"a"}},
		{Tool: "blank_role", Roles: []string{"a", " "}},
		{Tool: "blank_condition", Roles: []string{"a"}, When: "   "}, // no condition, not an error
	})
	if err == nil {
		t.Fatal("Compile accepted bad rules")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("error %v is not a *RuleError", e)
		}
		got = append(got, re.Tool+"/"+kind(re.Err))
	}
	want := []string{
		"syntax/condition",
		"unknown_var/condition",
		"two_policies/condition",
		"good/other",
		"/other",
		"blank_role/other",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rule errors mismatch (-want +got):\n%s\nfull error:\n%v", diff, err)
	}
	for _, tool := range []string{`tool "syntax"`, `tool "unknown_var"`, `tool "two_policies"`, `tool "good"`, "rule 5", `tool "blank_role"`} {
		if !strings.Contains(err.Error(), tool) {
			t.Errorf("error does not mention %s:\n%v", tool, err)
		}
	}
}

func kind(err error) string {
	if errors.Is(err, ErrCondition) {
		return "condition"
	}
	return "other"
}

func TestCompileErrorPositions(t *testing.T) {
	_, err := Compile([]Rule{{Tool: "t", When: "context.args.a == 1 &&\n  b == 2"}})
	if err == nil {
		t.Fatal("Compile accepted a syntax error")
	}
	if msg := err.Error(); !strings.Contains(msg, "line 2, column") || strings.Contains(msg, "<input>") {
		t.Errorf("error %q: want a position counted from the condition's first line", msg)
	}
	// A condition cut short: the error is at its end, and names no token
	// of the policy text the gateway wraps it in.
	for _, when := range []string{"context.args.x <", "principal.roles.contains(", "("} {
		_, err := Compile([]Rule{{Tool: "t", When: when}})
		if msg := fmt.Sprint(err); err == nil || !strings.Contains(msg, "at the end of the condition") || strings.Contains(msg, `";"`) || strings.Contains(msg, `"}"`) {
			t.Errorf("condition %q: error %q, want one at the end of the condition naming no wrapper token", when, msg)
		}
	}
}

func TestCompileEmpty(t *testing.T) {
	s := mustCompile(t, nil)
	if got := s.Decide(Request{Principal: alice, Tool: "sales_report"}); got.Allow {
		t.Errorf("empty set allowed: %+v", got)
	}
	if got := s.Visible(alice, assistant); got != nil {
		t.Errorf("empty set shows %v", got)
	}
}

func TestVisible(t *testing.T) {
	s := mustCompile(t, catalogue)
	tests := []struct {
		name  string
		p     Principal
		a     Agent
		want  []string
		tools []string
	}{
		{
			name: "conditions on principal and agent are evaluated",
			p:    alice, a: assistant,
			want: []string{"agents_only", "assistant_only", "emea_report", "sales_report"},
		},
		{
			name: "agent condition false hides the tool",
			p:    alice, a: cursor,
			want: []string{"emea_report", "sales_report"},
		},
		{
			name: "principal condition false hides the tool",
			p:    dave, a: assistant,
			want: []string{"agents_only", "assistant_only", "sales_report"},
		},
		{
			name: "condition error hides the tool",
			p:    erin, a: assistant,
			want: []string{"agents_only", "assistant_only", "sales_report"},
		},
		{
			name: "conditions on args are possibly true",
			p:    bob, a: assistant,
			want: []string{"commented", "nested", "ratio", "refund", "support_check", "tagged"},
		},
		{
			name: "agent cap narrows",
			p:    bob, a: capped(assistant, "refund", "sales_report", "tagged"),
			want: []string{"refund", "tagged"},
		},
		{
			name: "empty agent cap shows nothing",
			p:    alice, a: capped(assistant),
			want: nil,
		},
		{
			name: "admin sees only what a rule grants admin",
			p:    carol, a: assistant,
			want: []string{"admin_tool"},
		},
		{
			name: "several roles, no duplicates",
			p:    Principal{Subject: "frank", Roles: []string{"hr", "support", "hr", "admin"}}, a: cursor,
			want: []string{"admin_tool", "commented", "nested", "payroll_report", "ratio", "refund", "support_check", "tagged"},
		},
		{
			name: "unknown roles",
			p:    Principal{Subject: "zed", Roles: []string{"ghost"}}, a: assistant,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Visible(tc.p, tc.a)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Visible mismatch (-want +got):\n%s", diff)
			}
			// Every visible tool whose condition ignores args must be
			// allowed by Decide; no invisible tool may be.
			shown := map[string]bool{}
			for _, tool := range got {
				shown[tool] = true
			}
			for _, tool := range s.Tools() {
				d := s.Decide(Request{Principal: tc.p, Agent: tc.a, Tool: tool})
				if d.Allow && !shown[tool] {
					t.Errorf("Decide allows %s but Visible hides it", tool)
				}
				if c := s.rules[tool].cond; shown[tool] && !d.Allow && (c == nil || !c.usesArgs) {
					t.Errorf("Visible shows %s but Decide denies: %v", tool, d.Reasons)
				}
			}
		})
	}
}

func TestDependsOnArgs(t *testing.T) {
	tests := map[string]bool{
		`context.args.amount <= 50`:                                true,
		`context["args"]["amount"] <= 50`:                          true,
		`context has args`:                                         true,
		`context has agent`:                                        false,
		`context == {}`:                                            true,
		`context.agent.client_id == "x"`:                           false,
		`context["agent"].kind == "agent"`:                         false,
		`principal.region == "emea"`:                               false,
		`principal.roles.contains("a") || true`:                    false,
		`if context.agent has kind then context.args.a else false`: true,
		`{args: 1}.args == 1`:                                      false,
	}
	for cond, want := range tests {
		c, err := compileCondition(cond)
		if err != nil {
			t.Errorf("%s: %v", cond, err)
			continue
		}
		if c.usesArgs != want {
			t.Errorf("%s: usesArgs = %v, want %v", cond, c.usesArgs, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := mustCompile(t, catalogue)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				amount := json.Number("20")
				if (g+i)%2 == 1 {
					amount = "80"
				}
				d := s.Decide(Request{Principal: bob, Agent: assistant, Tool: "refund", Args: map[string]any{"amount": amount}})
				if d.Allow != (amount == "20") {
					t.Errorf("amount %s: Allow = %v", amount, d.Allow)
					return
				}
				if v := s.Visible(alice, assistant); len(v) != 4 {
					t.Errorf("Visible = %v", v)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestReasonsQuoteNoArgumentValues: a decision's reasons go to the audit
// trail, which keeps argument values only when the tenant opts in; an
// argument Cedar cannot take, or an evaluation error about one, is named
// by where it is, not by its value.
func TestReasonsQuoteNoArgumentValues(t *testing.T) {
	s := mustCompile(t, []Rule{
		{Tool: "add", Roles: []string{"r"}, When: "context.args.n + 1 > 0"},
		{Tool: "cap", Roles: []string{"r"}, When: "context.args.n <= 50"},
	})
	p := Principal{Subject: "alice", Roles: []string{"r"}}
	for _, tc := range []struct {
		tool, value, want string
	}{
		{"add", "9223372036854775807", "could not be evaluated"},
		{"cap", "4111111111111111111111", "out of the range of a Cedar Long"},
		{"cap", "41111111.11111111", "more than 4 decimal places"},
	} {
		d := s.Decide(Request{Principal: p, Tool: tc.tool, Args: map[string]any{"n": json.Number(tc.value)}})
		all := strings.Join(d.Reasons, "; ")
		if d.Allow || !strings.Contains(all, tc.want) || strings.Contains(all, tc.value) || strings.Contains(all, "4111") {
			t.Errorf("%s(%s): allow %v, reasons %q", tc.tool, tc.value, d.Allow, all)
		}
	}
}

// TestConditionNumberOutOfRange: a number past Cedar's 64-bit whole
// numbers is refused saying so in Cedar's terms, not in the Go parser's.
func TestConditionNumberOutOfRange(t *testing.T) {
	_, err := Compile([]Rule{{Tool: "refund", Roles: []string{"support"}, When: "context.args.amount <= 99999999999999999999"}})
	if err == nil || !strings.Contains(err.Error(), "99999999999999999999 is out of range") || strings.Contains(err.Error(), "strconv") {
		t.Errorf("Compile = %v", err)
	}
}

// TestConditional pins what a caller that decodes arguments only when
// Conditional says so relies on: a rule without a condition decides the
// same with and without arguments.
func TestConditional(t *testing.T) {
	s := mustCompile(t, catalogue)
	args := map[string]any{"amount": json.Number("5000"), "tags": []any{"urgent"}}
	for _, r := range catalogue {
		if got, want := s.Conditional(r.Tool), r.When != ""; got != want {
			t.Errorf("Conditional(%q) = %v, want %v", r.Tool, got, want)
		}
		if r.When != "" {
			continue
		}
		for _, role := range append([]string{"none"}, r.Roles...) {
			p := Principal{Subject: "alice", Roles: []string{role}}
			with := s.Decide(Request{Principal: p, Tool: r.Tool, Args: args})
			without := s.Decide(Request{Principal: p, Tool: r.Tool})
			if diff := cmp.Diff(with, without); diff != "" {
				t.Errorf("%s as %s: the arguments changed the decision (-with +without):\n%s", r.Tool, role, diff)
			}
		}
	}
	if s.Conditional("no_such_tool") {
		t.Error("Conditional of an unknown tool is true")
	}
}
