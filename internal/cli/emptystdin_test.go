package cli_test

import (
	"strings"
	"testing"
)

// TestSecretFromEmptyStdin: --password-stdin or --secret-stdin with
// nothing piped in (a script that forgot the pipe, </dev/null) says the
// secret read is empty, as for an empty line, not the reader's bare
// "EOF"; and nothing is added.
func TestSecretFromEmptyStdin(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{
		{"user", "add", "carol", "--password-stdin"},
		{"client", "add", "billing", "--kind", "service", "--secret-stdin"},
	} {
		for _, stdin := range []string{"", "\n"} {
			r := run(t, nil, stdin, append(args, "--data", data)...)
			if r.code != 1 || !strings.Contains(r.stderr, "read from standard input is empty") || strings.Contains(r.stderr, "EOF") {
				t.Errorf("%v with stdin %q: exit %d, %q", args[:2], stdin, r.code, r.stderr)
			}
		}
	}
	if r := must(t, run(t, nil, "", "user", "list", "--data", data)); strings.Contains(r.stdout, "carol") {
		t.Errorf("a user was added without a password:\n%s", r.stdout)
	}
}
