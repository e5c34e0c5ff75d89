package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysRotateNeedsAStore: 'keys rotate' refuses a data folder that
// holds no store, as the listings do. Opening one there would make a
// store, a master key and keys, rotate those, and say "Rotated": an admin
// withdrawing a compromised key with --now under a mistyped --data would
// be told it was done while the tenant's keys went on signing.
func TestKeysRotateNeedsAStore(t *testing.T) {
	for _, flags := range [][]string{nil, {"--now"}} {
		for _, dir := range []string{filepath.Join(t.TempDir(), "nonexistent"), t.TempDir()} {
			r := run(t, nil, "", append(append([]string{"keys", "rotate"}, flags...), "--data", dir)...)
			if r.code != 1 || !strings.Contains(r.stderr, "holds no Gatehouse store") || strings.Contains(r.stdout, "Rotated") {
				t.Errorf("keys rotate %v in %s: exit %d, %q %q", flags, dir, r.code, r.stdout, r.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("keys rotate %v made %v in %s", flags, entries, dir)
			}
		}
	}
	// A store's keys rotate.
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	must(t, run(t, nil, "", "keys", "rotate", "--now", "--data", data))
}
