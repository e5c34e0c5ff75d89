package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// appendingWriter appends more records to the trail the first time the
// export writes to it: a busy server, while an export runs.
type appendingWriter struct {
	bytes.Buffer
	more func()
}

func (w *appendingWriter) Write(p []byte) (int, error) {
	if w.more != nil {
		w.more()
		w.more = nil
	}
	return w.Buffer.Write(p)
}

// TestExportIsTheTrailAsItStood: an export writes the records that
// matched when it began, not those written while it runs: on a busy
// server it ends, and what it wrote is a snapshot a second export from
// its last seq continues. Before, it read until it caught up with the
// writers, which a busy trail may never let it do.
func TestExportIsTheTrailAsItStood(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	if err := audit.RecordAll(ctx, e.log, events(1500)...); err != nil {
		t.Fatal(err)
	}
	head, _, err := e.log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := &appendingWriter{more: func() {
		if err := audit.RecordAll(ctx, e.log, events(5)...); err != nil {
			t.Error(err)
		}
	}}
	n, err := e.log.Export(ctx, w, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	sc := bufio.NewScanner(&w.Buffer)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Seq int64 }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		last = rec.Seq
	}
	if n != head || last != head {
		t.Errorf("exported %d records up to seq %d; the trail held %d when the export began", n, last, head)
	}
}
