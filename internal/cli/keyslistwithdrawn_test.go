package cli_test

import (
	"strings"
	"testing"
)

// TestKeysListSaysWithdrawn: after 'keys rotate --now' (a compromised
// key), 'keys list' says the old keys are withdrawn, out of the JWKS, not
// "published until" a time the admin must compare with the clock to learn
// that the key they meant to withdraw is gone.
func TestKeysListSaysWithdrawn(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "role", "add", "auditor", "--data", data))
	must(t, run(t, nil, "", "keys", "rotate", "--now", "--data", data))
	out := must(t, run(t, nil, "", "keys", "list", "--data", data)).stdout
	withdrawn, active := 0, 0
	for l := range strings.Lines(out) {
		switch f := strings.Fields(l); {
		case len(f) < 4 || f[0] == "KID":
		case f[3] == "active":
			active++
		case f[3] == "withdrawn":
			withdrawn++
		default:
			t.Errorf("a key neither active nor withdrawn after keys rotate --now: %q", l)
		}
	}
	if withdrawn != 2 || active != 2 {
		t.Errorf("keys list after keys rotate --now: %d withdrawn, %d active, want 2 and 2:\n%s", withdrawn, active, out)
	}
}
