package cli_test

import (
	"strings"
	"testing"
)

// TestUsageErrorsReadRight: a mistyped command at the top level is named
// as "gatehouse: unknown command", not "gatehouse : …", and a command that
// takes no arguments says so and shows what it was given, rather than
// "want 0 argument(s) ()".
func TestUsageErrorsReadRight(t *testing.T) {
	r := run(t, nil, "", "users", "list")
	if first, _, _ := strings.Cut(r.stderr, "\n"); r.code != 2 || first != `gatehouse: unknown command "users"` {
		t.Errorf("exit %d, first line %q", r.code, first)
	}
	for _, cmd := range [][]string{{"user", "list"}, {"keys", "list"}} {
		r = run(t, nil, "", append(cmd, "extra", "--data", t.TempDir())...)
		want := "gatehouse " + strings.Join(cmd, " ") + `: takes no arguments, got ["extra"]`
		if first, _, _ := strings.Cut(r.stderr, "\n"); r.code != 2 || first != want {
			t.Errorf("%v: exit %d, first line %q", cmd, r.code, first)
		}
	}
}
