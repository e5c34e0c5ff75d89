package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// execSQL runs statements on a data folder's database behind Gatehouse's
// back.
func execSQL(t *testing.T, data string, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// TestVerifySaysWhyItCouldNotRead: a trail that cannot be read is not
// reported as a broken chain of no problems: the cause is said, in text
// and in JSON, and the exit status is not 0.
func TestVerifySaysWhyItCouldNotRead(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	execSQL(t, data, "DROP TABLE audit_checkpoints")

	r := run(t, nil, "", append([]string{"audit", "verify"}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "could not be verified") || !strings.Contains(r.stderr, "audit_checkpoints") ||
		strings.Contains(r.stdout, "BROKEN") || strings.Contains(r.stdout, "OK") {
		t.Errorf("verify without the checkpoints table: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = run(t, nil, "", append([]string{"audit", "verify", "--json"}, d...)...)
	var rep struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, r.stdout)
	}
	if r.code == 0 || rep.OK || !strings.Contains(rep.Error, "audit_checkpoints") {
		t.Errorf("verify --json without the checkpoints table: exit %d\n%s", r.code, r.stdout)
	}
}

// TestVerifyWarnsOfUncheckedSignatures: a trail that verifies, but holds
// a checkpoint signed by a key this store does not know (here, another
// store's), says so after its OK line.
func TestVerifyWarnsOfUncheckedSignatures(t *testing.T) {
	data, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{data, other} {
		must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", dir))
	}
	out := must(t, run(t, nil, "", "audit", "checkpoints", "--data", other)).stdout
	var cp struct {
		Seq        int64
		Hash, Kind string
		JWS        string
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &cp); err != nil || cp.JWS == "" {
		t.Fatalf("checkpoints of the other store: %v\n%s", err, out)
	}
	execSQL(t, data, "INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (?, ?, 0, ?, ?)", cp.Seq, cp.Hash, cp.Kind, cp.JWS)

	v := must(t, run(t, nil, "", "audit", "verify", "--data", data)).stdout
	if !strings.HasPrefix(v, "OK: ") || !strings.Contains(v, "\nWARNING: 1 signature(s) are by keys this store does not know, and were not checked\n") {
		t.Errorf("verify:\n%s", v)
	}
	var rep struct{ Unverifiable int }
	j := must(t, run(t, nil, "", "audit", "verify", "--json", "--data", data)).stdout
	if err := json.Unmarshal([]byte(j), &rep); err != nil || rep.Unverifiable != 1 || strings.Contains(j, `"error"`) {
		t.Errorf("verify --json: %v\n%s", err, j)
	}
}

// TestVerifyNamesAMissingCheckpointsFile: an off-box checkpoints file
// that cannot be opened is named with the flag that gave it.
func TestVerifyNamesAMissingCheckpointsFile(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"apply", "-f", testdata + "acme.yaml"}, d...)...))
	missing := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	r := run(t, nil, "", append([]string{"audit", "verify", "--checkpoints", missing}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "--checkpoints") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("verify with a missing checkpoints file: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestFinalCheckpointFailureIsSaid: a command whose change is committed
// with its record but whose trail cannot write its final checkpoint (the
// store refusing it) says so and exits non-zero, rather than exit 0 with
// the trail's tail unsealed.
func TestFinalCheckpointFailureIsSaid(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	must(t, run(t, nil, "", append([]string{"role", "add", "first"}, d...)...))
	execSQL(t, data, "CREATE TRIGGER no_checkpoints BEFORE INSERT ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints refused'); END")
	for _, args := range [][]string{{"role", "add", "second"}, {"keys", "rotate"}} {
		r := run(t, nil, "", append(args, d...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "final checkpoint could not be written") || !strings.Contains(r.stderr, "checkpoints refused") {
			t.Errorf("%v with checkpoints refused: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if out := must(t, run(t, nil, "", append([]string{"role", "list"}, d...)...)).stdout; !strings.Contains(out, "second") {
		t.Errorf("the change itself was not kept:\n%s", out)
	}
}
