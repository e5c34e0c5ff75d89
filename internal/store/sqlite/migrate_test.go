package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// A data folder written before migration 0007 (audit_log and consumed
// rebuilt with other keys) keeps every record, unchanged and findable
// through its indexes, and every single-use marker, used.
func TestAuditMigrationsKeepTheTrailAndMarkers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	before := fstest.MapFS{}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if base := filepath.Base(n); base < "0007" {
			body, _ := fs.ReadFile(migrations, n)
			before[base] = &fstest.MapFile{Data: body}
		}
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	old, err := sqldb.New(ctx, raw, sqldb.Dialect{Name: "sqlite", Migrations: before, IsUnique: isUnique, OneWriter: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	appendN := func(s *sqldb.DB, n int) {
		t.Helper()
		_, err := s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
			recs := make([]store.AuditRecord, n)
			prev := h.Hash
			for i := range recs {
				seq := h.Seq + int64(i) + 1
				recs[i] = store.AuditRecord{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Event: []byte(`{}`),
					Prev: prev, Hash: fmt.Sprint("h", seq), Type: "tool.decision", Actor: fmt.Sprint("p", seq%3),
					Correlation: fmt.Sprint("c", seq)}
				prev = recs[i].Hash
			}
			return recs, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendN(old, 300)
	exp := time.Now().Add(time.Hour)
	if ok, err := old.Consume(ctx, "slip", "used-before", exp); err != nil || !ok {
		t.Fatalf("Consume = %v, %v", ok, err)
	}
	oldRecs, err := old.AuditRecords(ctx, store.AuditFilter{Limit: 1000})
	if err != nil || len(oldRecs) != 300 {
		t.Fatalf("%d records, %v", len(oldRecs), err)
	}
	old.Close()

	s, err := OpenFile(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.AuditRecords(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(oldRecs, recs); diff != "" {
		t.Errorf("the records changed in the migrations (-before +after):\n%s", diff)
	}
	if ok, err := s.Consume(ctx, "slip", "used-before", exp); err != nil || ok {
		t.Errorf("a marker used before the migrations could be used again: %v, %v", ok, err)
	}
	if ok, err := s.Consume(ctx, "slip", "new", exp); err != nil || !ok {
		t.Errorf("a new marker: %v, %v", ok, err)
	}
	appendN(s, 5)
	for _, c := range []struct {
		f    store.AuditFilter
		want int
	}{
		{store.AuditFilter{Actor: "p1", Limit: 1000}, 102}, // 1, 4, … 304
		{store.AuditFilter{Correlation: "c7"}, 1},
		{store.AuditFilter{Correlation: "c303"}, 1},
		{store.AuditFilter{Since: t0.Add(295 * time.Second), Limit: 1000}, 11},
	} {
		got, err := s.AuditRecords(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("%+v: %d records, %v; want %d", c.f, len(got), err, c.want)
		}
	}
	for _, ix := range []string{"audit_log_at", "audit_log_actor", "audit_log_agent", "audit_log_tool", "audit_log_correlation", "consumed_expires"} {
		var n int
		if err := s.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?", ix).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s: %d, %v", ix, n, err)
		}
	}
}
