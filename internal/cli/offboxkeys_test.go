package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyRefusesAnOffBoxCopyItCannotCheck: 'audit verify --checkpoints'
// with a copy signed by keys the store does not know (another store's,
// or the store replaced, keys and all) says so and fails, rather than
// take the copy on trust or pass over it; a copy whose signature was
// altered fails too. A copy signed by the store's keys before a
// rotation, and after them withdrawn, still checks (the keys' archive).
func TestVerifyRefusesAnOffBoxCopyItCannotCheck(t *testing.T) {
	data, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{data, other} {
		must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", dir))
	}
	foreign := filepath.Join(t.TempDir(), "foreign.jsonl")
	must(t, run(t, nil, "", "audit", "checkpoints", "-o", foreign, "--data", other))
	r := run(t, nil, "", "audit", "verify", "--checkpoints", foreign, "--data", data)
	if r.code != 1 || !strings.Contains(r.stdout, "BROKEN") || !strings.Contains(r.stdout, "off-box checkpoint") ||
		!strings.Contains(r.stdout, "does not know") {
		t.Errorf("a copy by another store's keys: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	own := filepath.Join(t.TempDir(), "own.jsonl")
	must(t, run(t, nil, "", "audit", "checkpoints", "-o", own, "--data", data))
	b, err := os.ReadFile(own)
	if err != nil {
		t.Fatal(err)
	}
	// The last character of a signature altered.
	altered := filepath.Join(t.TempDir(), "altered.jsonl")
	line := strings.SplitN(string(b), "\n", 2)[0]
	i := strings.LastIndex(line, `"}`)
	c := byte('A')
	if line[i-2] == 'A' {
		c = 'B'
	}
	os.WriteFile(altered, []byte(line[:i-2]+string(c)+line[i-1:]+"\n"), 0o600)
	r = run(t, nil, "", "audit", "verify", "--checkpoints", altered, "--data", data)
	if r.code != 1 || !strings.Contains(r.stdout, "does not verify") {
		t.Errorf("a copy whose signature was altered: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	must(t, run(t, nil, "", "keys", "rotate", "--now", "--data", data))
	if r := run(t, nil, "", "audit", "verify", "--checkpoints", own, "--data", data); r.code != 0 || !strings.HasPrefix(r.stdout, "OK") {
		t.Errorf("the store's own copy, its keys withdrawn since: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestVerifyRefusesAnEmptyOffBoxCopy: 'audit verify --checkpoints FILE'
// with a FILE that holds no checkpoint (emptied, or the wrong file) fails
// with a clear message: an OK would read as "checked against the copy"
// when nothing was.
func TestVerifyRefusesAnEmptyOffBoxCopy(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	empty := filepath.Join(t.TempDir(), "cps.jsonl")
	os.WriteFile(empty, []byte("\n\n"), 0o600)
	r := run(t, nil, "", "audit", "verify", "--checkpoints", empty, "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "holds no checkpoint") || strings.Contains(r.stdout, "OK") {
		t.Errorf("an empty copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
