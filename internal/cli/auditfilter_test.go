package cli_test

import (
	"strings"
	"testing"
)

// TestNegativeDurationsAreRefused: --since and --until take a duration as
// that long ago; a negative one (the future) is refused with a reason
// rather than answering nothing.
func TestNegativeDurationsAreRefused(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	for _, args := range [][]string{
		{"audit", "export", "--since", "-1h"},
		{"audit", "tail", "--until", "-30m"},
	} {
		r := run(t, nil, "", append(args, "--data", data)...)
		want := `--` + strings.TrimPrefix(args[2], "--") + ` "` + args[3] + `": a duration means that long ago, so it cannot be negative`
		if r.code == 0 || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := must(t, run(t, nil, "", "audit", "export", "--since", "1h", "--data", data)); strings.Count(r.stdout, "\n") != 12 {
		t.Errorf("--since 1h: %s", r.stdout)
	}
}

// TestEmptyFiltersAreRefused: a filter flag given empty (a shell variable
// left unset, say) is refused, not taken as no filter: the whole trail is
// not what was asked for.
func TestEmptyFiltersAreRefused(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	for _, args := range [][]string{
		{"audit", "export", "--actor", ""},
		{"audit", "tail", "--session="},
		{"audit", "export", "--type", ""},
	} {
		r := run(t, nil, "", append(args, "--data", data)...)
		name, _, _ := strings.Cut(strings.TrimPrefix(args[2], "--"), "=")
		if r.code == 0 || !strings.Contains(r.stderr, "--"+name+" is empty") || r.stdout != "" {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
}
