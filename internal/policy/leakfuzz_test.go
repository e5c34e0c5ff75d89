package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzReasonQuotesNoArgument: whatever a call's arguments hold, the
// reasons of its decision (which the audit trail keeps, while argument
// values are kept only on the tenant's word) quote none of its values,
// as they are or as Cedar prints them, whatever part of a condition
// failed on them.
func FuzzReasonQuotesNoArgument(f *testing.F) {
	conds := []string{
		`ip(context.args.s).isLoopback()`, `decimal(context.args.s) > decimal("1.0")`,
		`datetime(context.args.s) > datetime("2024-01-01")`, `duration(context.args.s) > duration("1h")`,
		`context.args.n + 9223372036854775807 > 0`, `context.args.n * context.args.n > 0`, `-context.args.n < 0`,
		`context.args.s < 1`, `context.args.s like "x*"`, `context.args.s.isInRange(ip("10.0.0.0/8"))`,
		`context.args.r.x == 1`, `User::"alice" in context.args.l`,
		`context.args.l.contains(1)`, `context.args.s.lessThan(decimal("1.0"))`,
	}
	for i := range conds {
		f.Add(uint8(i), "secret-value-9", "123456789", "10.0.0.300")
		f.Add(uint8(i), "2024-13-45T99:00:00Z", "9223372036854775807", "1h30x")
	}
	f.Fuzz(func(t *testing.T, which uint8, s, num, l string) {
		src := conds[int(which)%len(conds)]
		c, err := compileCondition(src)
		if err != nil {
			t.Fatal(err)
		}
		n := json.Number(num)
		args := map[string]any{"s": s, "n": n, "r": map[string]any{"x": s}, "l": []any{l, s}}
		_, why := c.eval(Principal{Subject: "alice"}, Agent{}, "t", args)
		for _, v := range []string{s, string(n), l} {
			if len(v) >= 6 && !strings.Contains(src, v) && !strings.Contains(c.isFalse, v) && strings.Contains(why, v) {
				t.Fatalf("%s with %q: reason %q quotes %q", src, args, why, v)
			}
		}
	})
}
