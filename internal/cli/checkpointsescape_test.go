package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestCheckpointsExportEscapesInvisible: 'audit checkpoints' writes the
// characters a terminal may act on (C1 controls such as CSI, bidirectional
// overrides, zero-width characters) in a signed checkpoint's kind as \u
// escapes, as verify --json, tail --json and export do; the copy reads
// back with the kind as signed. It used to write them raw.
func TestCheckpointsExportEscapesInvisible(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	const hostile = "manual\u009b2J\u202eevil\u200b\u007f"
	ctx := context.Background()
	o := server.StoreOptions{DataDir: data}
	st, err := server.OpenStore(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := server.OpenKeys(ctx, st, o)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jws, err := ks.SignJSON(keys.EdDSA, audit.CheckpointType, map[string]any{
		"seq": 1, "hash": strings.Repeat("ab", 32), "kind": hostile, "iat": now.Unix(), "at_us": now.UnixMicro()})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, data, "INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (?, ?, 0, ?, ?)",
		1, strings.Repeat("ab", 32), hostile, jws)

	r := must(t, run(t, nil, "", append([]string{"audit", "checkpoints"}, d...)...))
	if i := strings.IndexAny(r.stdout, "\u009b\u202e\u200b\u007f"); i >= 0 {
		t.Errorf("audit checkpoints wrote an invisible character raw at byte %d:\n%q", i, r.stdout)
	}
	cs, err := audit.ParseCheckpoints(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("the copy does not read back: %v\n%s", err, r.stdout)
	}
	found := false
	for _, c := range cs {
		found = found || c.Kind == hostile
	}
	if !found {
		t.Errorf("the kind is not in the copy as it was signed:\n%s", r.stdout)
	}
}
