package policy

import (
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
