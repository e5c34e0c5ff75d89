package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVerifyNamesWithdrawnKeys: after 'keys rotate --now' (a leaked key),
// 'audit verify' still verifies what the withdrawn keys signed before,
// but says which key that rests on and which records, in text and JSON:
// whoever holds the key could have signed a forgery dated before.
func TestVerifyNamesWithdrawnKeys(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"role", "add", "auditor"}, d...)...))
	var withdrawn string
	for l := range strings.Lines(must(t, run(t, nil, "", append([]string{"keys", "list"}, d...)...)).stdout) {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == "EdDSA" {
			withdrawn = f[0]
		}
	}
	must(t, run(t, nil, "", append([]string{"keys", "rotate", "--now"}, d...)...))

	v := must(t, run(t, nil, "", append([]string{"audit", "verify"}, d...)...)).stdout
	if !strings.HasPrefix(v, "OK: ") || !strings.Contains(v, "WARNING: key "+withdrawn+" was withdrawn") || !strings.Contains(v, "record 1") {
		t.Errorf("verify after keys rotate --now does not name the withdrawn key %s:\n%s", withdrawn, v)
	}
	var rep struct {
		WithdrawnKeys []struct {
			Kid         string
			Signatures  int
			Checkpoints int
		} `json:"withdrawn_keys"`
	}
	j := must(t, run(t, nil, "", append([]string{"audit", "verify", "--json"}, d...)...)).stdout
	if err := json.Unmarshal([]byte(j), &rep); err != nil || len(rep.WithdrawnKeys) != 1 || rep.WithdrawnKeys[0].Kid != withdrawn ||
		rep.WithdrawnKeys[0].Signatures == 0 {
		t.Errorf("verify --json: %v\n%s", err, j)
	}
}
