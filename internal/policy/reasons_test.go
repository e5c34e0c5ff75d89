package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEvaluationErrorsQuoteNoArgumentValues: Cedar prints some argument
// values unquoted in its evaluation errors (an IP address it could not
// parse), or a piece of them (a duration's unexpected character). Such a
// message stays out of the reason; one that names no value is kept.
func TestEvaluationErrorsQuoteNoArgumentValues(t *testing.T) {
	const (
		ipCond       = "ip(context.args.addr).isLoopback()"
		nestedCond   = "ip(context.args.card.number).isLoopback()"
		durationCond = `duration(context.args.wait) > duration("1h")`
		amountCond   = "context.args.amount <= 50"
	)
	s := mustCompile(t, []Rule{
		{Tool: "ip", Roles: []string{"r"}, When: ipCond},
		{Tool: "nested", Roles: []string{"r"}, When: nestedCond},
		{Tool: "duration", Roles: []string{"r"}, When: durationCond},
		{Tool: "amount", Roles: []string{"r"}, When: amountCond},
	})
	p := Principal{Subject: "alice", Roles: []string{"r"}}
	leftOut := " could not be evaluated: its message is left out because it quotes the arguments"
	for _, tc := range []struct {
		tool   string
		args   map[string]any
		secret string // must appear in no reason
		want   string // the last reason
	}{
		{"ip", map[string]any{"addr": "4111111111111111-SECRET"}, "SECRET",
			"condition `" + ipCond + "`" + leftOut},
		{"nested", map[string]any{"card": map[string]any{"number": "4111111111111111-SECRET"}}, "SECRET",
			"condition `" + nestedCond + "`" + leftOut},
		// "10x" does not occur in Cedar's "unexpected character 'x'": the
		// parse error's detail, a piece of the value, goes all the same.
		{"duration", map[string]any{"wait": "10x"}, "'x'",
			"condition `" + durationCond + "` could not be evaluated: error parsing duration value"},
		{"amount", map[string]any{"note": "hello"}, "hello",
			"condition `" + amountCond + "` could not be evaluated: record does not have the attribute `amount`"},
	} {
		d := s.Decide(Request{Principal: p, Tool: tc.tool, Args: tc.args})
		all := strings.Join(d.Reasons, "; ")
		if d.Allow || d.Reasons[len(d.Reasons)-1] != tc.want || strings.Contains(all, tc.secret) {
			t.Errorf("%s %v: allow %v, reasons %q\nwant last %q", tc.tool, tc.args, d.Allow, d.Reasons, tc.want)
		}
	}
}

// TestConversionReasonsQuoteNoArgumentKeys: arguments that have no Cedar
// form are refused with a reason naming where the failing value is. A
// key on that path which the condition does not read is the caller's
// data (an object used as a map: card numbers, addresses to the values
// of each), and the trail keeps arguments only as a digest unless the
// tenant opts in: such a key is left out of the reason, as a Cedar
// message quoting one is. A key the condition reads is its own name, and
// stays.
func TestConversionReasonsQuoteNoArgumentKeys(t *testing.T) {
	const cond = "context.args.amount <= 50 && context.args.items.isEmpty()"
	s := mustCompile(t, []Rule{{Tool: "pay", Roles: []string{"r"}, When: cond}})
	p := Principal{Subject: "alice", Roles: []string{"r"}}
	for _, tc := range []struct {
		args   map[string]any
		secret string // must appear in no reason
		want   string // the last reason
	}{
		{map[string]any{"amount": json.Number("1"), "cards": map[string]any{"4111111111111111": json.Number("0.123456")}},
			"4111111111111111", "args.….…: a number with more than 4 decimal places"},
		{map[string]any{"amount": json.Number("1"), "carol@example.com": json.Number("1e30")},
			"carol@example.com", "args.…: an integer out of the range of a Cedar Long"},
		{map[string]any{"amount": json.Number("1"), "items": []any{map[string]any{"bob@example.com": json.Number("0.000001")}}},
			"bob@example.com", "args.items[0].…: a number with more than 4 decimal places"},
		// The condition's own names stay, to say which argument it was.
		{map[string]any{"amount": json.Number("1e30")}, "\x00", "args.amount: an integer out of the range of a Cedar Long"},
	} {
		d := s.Decide(Request{Principal: p, Tool: "pay", Args: tc.args})
		all := strings.Join(d.Reasons, "; ")
		if d.Allow || !strings.Contains(d.Reasons[len(d.Reasons)-1], tc.want) || strings.Contains(all, tc.secret) {
			t.Errorf("%v: allow %v, reasons %q\nwant the last to contain %q", tc.args, d.Allow, d.Reasons, tc.want)
		}
	}
}
