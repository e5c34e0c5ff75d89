package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestProblemsCollectedAreBounded: a file made of mistakes (the wrong
// file given, megabytes of them) made a problem of each, over a million
// for 7 MB, at about a hundred times the file's size in memory, though an
// error shows only the first 100. At most 1,000 are kept, at parse and at
// validation alike; the error still counts them all and says how many
// more there are.
func TestProblemsCollectedAreBounded(t *testing.T) {
	const n = 5000
	var parsed strings.Builder
	parsed.WriteString("tenant: acme\n")
	for i := range n {
		fmt.Fprintf(&parsed, "k%d: 1\n", i)
	}
	validated := "tenant: acme\nusers: [" + strings.Repeat("{email: x},", n) + "]\n"
	for _, tc := range []struct{ name, src, first string }{
		{"parse", parsed.String(), "  t.yaml:2: k0: unknown field"},
		{"validate", validated, "  t.yaml:2: users[0].username: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src)
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want config.Problems, got %v", err)
			}
			if len(ps) > 1000 {
				t.Errorf("%d problems kept, want at most 1000", len(ps))
			}
			lines := strings.Split(err.Error(), "\n")
			want := fmt.Sprintf("tenant file has %d problems:", countOf(tc.name, n))
			if lines[0] != want || !strings.HasPrefix(lines[1], tc.first) ||
				lines[len(lines)-1] != fmt.Sprintf("  … and %d more", countOf(tc.name, n)-100) || len(lines) != 102 {
				t.Errorf("%d lines: %q, %q … %q; want %q first", len(lines), lines[0], lines[1], lines[len(lines)-1], want)
			}
		})
	}
}

// countOf is how many problems each file of TestProblemsCollectedAreBounded
// has: one a key; two a user (no username, and an address that is none).
func countOf(name string, n int) int {
	if name == "validate" {
		return 2 * n
	}
	return n
}
