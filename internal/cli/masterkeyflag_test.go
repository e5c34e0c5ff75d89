package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMasterKeyNotOnTheCommandLine: the master key is a secret, and every
// user of the machine can read a command line: --master-key given there
// is refused, without repeating it, and the message names the variable
// that takes it; GATEHOUSE_MASTER_KEY still does.
func TestMasterKeyNotOnTheCommandLine(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	b, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	for _, args := range [][]string{
		{"audit", "verify", "--data", data, "--master-key", key},
		{"role", "list", "--master-key=" + key, "--data", data},
		{"keys", "rotate", "--data", data, "--master-key", key},
	} {
		r := run(t, nil, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "set GATEHOUSE_MASTER_KEY") || strings.Contains(r.stderr+r.stdout, key) {
			t.Errorf("%v: exit %d, %q", args[:2], r.code, r.stderr)
		}
	}
	env := map[string]string{"GATEHOUSE_MASTER_KEY": key}
	if r := must(t, run(t, env, "", "audit", "verify", "--data", data)); !strings.HasPrefix(r.stdout, "OK: 1 records") {
		t.Errorf("verify with GATEHOUSE_MASTER_KEY: %s", r.stdout)
	}
}
