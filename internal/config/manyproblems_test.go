package config_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestManyProblemsShowTheFirstHundred: a file with a problem a line (the
// wrong file given to apply: an 8 MB one made a 96 MB message, 772,692
// lines scrolling past) shows its first 100 problems and how many more
// there are, as audit verify does; the count is of them all.
func TestManyProblemsShowTheFirstHundred(t *testing.T) {
	var src strings.Builder
	src.WriteString("tenant: acme\n")
	for i := range 150 {
		fmt.Fprintf(&src, "k%d: 1\n", i)
	}
	_, err := parse(t, src.String())
	if got := len(problems(t, err)); got != 150 {
		t.Fatalf("%d problems, want 150", got)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 102 || lines[0] != "tenant file has 150 problems:" ||
		!strings.HasPrefix(lines[100], "  t.yaml:101: k99: unknown field") || lines[101] != "  … and 50 more" {
		t.Errorf("%d lines: first %q, then %q, last %q", len(lines), lines[0], lines[min(100, len(lines)-1)], lines[len(lines)-1])
	}
}
