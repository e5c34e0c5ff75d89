package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestExportWritesWhatWasSigned: someone who can write the database
// changes a checkpoint row's columns (it now names another seq and hash)
// and plants rows of junk. The off-box copy carries what each signature
// states, not the row's columns, and leaves out (and counts) the rows no
// signature stands behind; the export still succeeds, so planted rows
// cannot stop the copies being taken.
func TestExportWritesWhatWasSigned(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(4)...)
	c, err := e.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE audit_checkpoints SET seq = 999, hash = 'planted' WHERE jws = ?`, c.JWS)
	e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (1000, 'x', 0, 'manual', 'junk')`)
	e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (1001, 'y', 0, 'manual', ?)`, c.JWS[:len(c.JWS)-4]+"AAAA")
	var off bytes.Buffer
	n, leftOut, err := e.log.ExportCheckpoints(ctx, &off)
	if err != nil || leftOut != 2 || n < 1 {
		t.Fatalf("export: %d written, %d left out, %v", n, leftOut, err)
	}
	if s := off.String(); strings.Contains(s, "planted") || strings.Contains(s, `"seq":999`) || strings.Contains(s, "junk") {
		t.Errorf("the copy carries what the rows say, not what was signed:\n%s", s)
	}
	cps, err := audit.ParseCheckpoints(&off)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cp := range cps {
		if cp.JWS == c.JWS {
			found = cp.Seq == c.Seq && cp.Hash == c.Hash
		}
	}
	if !found {
		t.Errorf("the signed checkpoint is not in the copy as signed: %+v (want seq %d hash %s)", cps, c.Seq, c.Hash)
	}
}
