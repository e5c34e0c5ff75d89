package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListingsNeedAStore: the listings (user, role, client, tool and
// upstream list, keys list) refuse a data folder that holds no store, as
// the audit commands do, rather than make a store and a master key where
// a mistyped --data points: an empty listing there reads as an empty
// tenant, and 'audit verify' would then call that folder's trail OK.
func TestListingsNeedAStore(t *testing.T) {
	for _, cmd := range [][]string{{"user", "list"}, {"role", "list"}, {"client", "list"}, {"tool", "list"},
		{"upstream", "list"}, {"keys", "list"}} {
		for _, dir := range []string{filepath.Join(t.TempDir(), "nonexistent"), t.TempDir()} {
			r := run(t, nil, "", append(cmd, "--data", dir)...)
			if r.code != 1 || !strings.Contains(r.stderr, "holds no Gatehouse store") {
				t.Errorf("%v in %s: exit %d, %q %q", cmd, dir, r.code, r.stdout, r.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("%v created %v in %s", cmd, entries, dir)
			}
			if r := run(t, nil, "", "audit", "verify", "--data", dir); r.code != 1 || strings.Contains(r.stdout, "OK") {
				t.Errorf("audit verify after %v in %s: exit %d, %q", cmd, dir, r.code, r.stdout)
			}
		}
	}
	// A folder a change made is listed.
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	if r := must(t, run(t, nil, "", "role", "list", "--data", data)); !strings.Contains(r.stdout, "auditor") {
		t.Errorf("role list: %s", r.stdout)
	}
	must(t, run(t, nil, "", "keys", "list", "--data", data))
}
