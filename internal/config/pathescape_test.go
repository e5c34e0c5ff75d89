package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProblemPathsAreEscaped: a problem's path repeats the keys of the
// file as written, and a key may hold a terminal's escape sequences or a
// bidirectional override (a tenant file proposed in a pull request,
// checked with apply --dry-run in CI): they are escaped, never written
// to the terminal or the log as they are.
func TestProblemPathsAreEscaped(t *testing.T) {
	_, err := parse(t, "tenant: acme\n\"rolez\\e]0;owned\\a\": []\nusers:\n  - username: a\n    attributes: {\"x\\u202e\": [1]}\n")
	want := []string{
		`t.yaml:2: "rolez\x1b]0;owned\a": unknown field (known: audit, clients, connections, limits, roles, tenant, tools, upstreams, users)`,
		`t.yaml:5: "users[0].attributes.x\u202e": must be a single value`,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\x1b\a\u202e") {
		t.Errorf("the error holds control characters: %q", msg)
	}
}
