package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestVerifyJSONEscapesInvisible: 'audit verify --json' writes the
// characters a terminal may act on (C1 controls such as CSI, bidirectional
// overrides, zero-width characters) as \u escapes, as tail --json and
// export do, so that a checkpoint kind someone put in the database (here
// signed with the store's own key: whoever holds the data folder can)
// reaches the terminal as data. The values decode unchanged. It used to
// write them raw.
func TestVerifyJSONEscapesInvisible(t *testing.T) {
	const hostile = "manual\u009b2J\u202eevil\u200b"
	data := hostileCheckpoint(t, 1000000, hostile)
	d := []string{"--data", data}

	r := run(t, nil, "", append([]string{"audit", "verify", "--json"}, d...)...)
	if r.code != 1 {
		t.Fatalf("verify --json of a trail with a checkpoint past its end: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if i := strings.IndexAny(r.stdout, "\u009b\u202e\u200b"); i >= 0 {
		t.Errorf("verify --json wrote an invisible character raw at byte %d:\n%q", i, r.stdout)
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, r.stdout)
	}
	found := false
	for _, p := range rep.Problems {
		found = found || strings.Contains(p.Detail, "("+hostile+")")
	}
	if !found {
		t.Errorf("the kind is not in the report as it was signed:\n%s", r.stdout)
	}
}

// hostileCheckpoint applies acme.yaml to a new data folder and stores in
// it a checkpoint of record seq whose kind is kind, signed with the
// store's own key (whoever holds the data folder can); it returns the
// folder.
func hostileCheckpoint(t *testing.T, seq int64, kind string) string {
	t.Helper()
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
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
		"seq": seq, "hash": strings.Repeat("ab", 32), "kind": kind, "iat": now.Unix(), "at_us": now.UnixMicro()})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, data, "INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (?, ?, 0, ?, ?)",
		seq, strings.Repeat("ab", 32), kind, jws)
	return data
}
