package cli_test

import (
	"strings"
	"testing"
)

// TestNoChangeSaysSo: a command that finds its change already made says
// so, and prints no "~" line. The "~" lines are what changed, and each has
// its admin.change record: one printed for nothing would name a change
// the audit trail (rightly) does not hold.
func TestNoChangeSaysSo(t *testing.T) {
	data := t.TempDir()
	c := func(stdin string, args ...string) result {
		return must(t, run(t, nil, stdin, append(args, "--data", data)...))
	}
	c("", "role", "add", "sales")
	c("", "user", "add", "alice", "--role", "sales")
	c("", "tool", "add", "report", "--builtin", "sales_report", "--role", "sales")
	c("a-long-client-secret-of-32-chars-or-more\n", "client", "add", "billing", "--kind", "service", "--secret-stdin")
	_, before := exported(t, data, "admin.change")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "grant", "alice", "sales"}, "user alice already has role sales: nothing changed"},
		{[]string{"tool", "grant", "report", "sales"}, "tool report is already granted to role sales: nothing changed"},
		{[]string{"client", "enable", "billing"}, "client billing is already enabled: nothing changed"},
	} {
		out := c("", tc.args...).stdout
		if strings.HasPrefix(out, "~") || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %q; want %q", tc.args, out, tc.want)
		}
	}
	if _, after := exported(t, data, "admin.change"); len(after) != len(before) {
		t.Errorf("%d admin.change records, want %d", len(after), len(before))
	}

	// The change itself still prints its line, once.
	c("", "client", "disable", "billing")
	if out := c("", "client", "disable", "billing").stdout; !strings.Contains(out, "already disabled") {
		t.Errorf("disable twice: %q", out)
	}
}
