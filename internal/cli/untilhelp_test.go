package cli_test

import (
	"strings"
	"testing"
)

// TestUntilHelpSaysDurations: --until takes a duration (this long ago)
// as --since does, as the admin API's until does, and its help says so.
func TestUntilHelpSaysDurations(t *testing.T) {
	r := run(t, nil, "", "audit", "export", "--help")
	_, help, _ := strings.Cut(r.stderr, "-until time\n")
	help, _, _ = strings.Cut(help, "\n")
	if !strings.Contains(help, "long ago") {
		t.Errorf("--until's help: %q", help)
	}
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	if r := must(t, run(t, nil, "", "audit", "export", "--until", "1h", "--data", data)); r.stdout != "" {
		t.Errorf("--until 1h exported records of the last hour:\n%s", r.stdout)
	}
}
