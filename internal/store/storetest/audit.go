package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

func init() {
	Register(
		Case{"AuditAppend", testAuditAppend},
		Case{"AuditAppendConcurrent", testAuditAppendConcurrent},
		Case{"AuditAppendMarks", testAuditAppendMarks},
		Case{"AuditAppendAt", testAuditAppendAt},
		Case{"AuditAppendTwoHandles", testAuditAppendTwoHandles},
		Case{"AuditInTx", testAuditInTx},
		Case{"AuditInTxRacesAppends", testAuditInTxRacesAppends},
		Case{"AuditRecordsFilter", testAuditFilter},
		Case{"AuditCheckpoints", testAuditCheckpoints},
		Case{"AuditPrune", testAuditPrune},
		Case{"AuditPruneLarge", testAuditPruneLarge},
		Case{"AuditCursors", testAuditCursors},
		Case{"AuditCursorClaims", testAuditCursorClaims},
	)
}

// SecondHandle opens another handle on the database behind s, as a second
// replica would: its own connections, the same tables.
func SecondHandle(t *testing.T, s *sqldb.DB) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	var (
		other *sqldb.DB
		err   error
	)
	switch s.Dialect() {
	case "sqlite":
		var seq int
		var name, file string
		if err := s.SQL().QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
			t.Fatal(err)
		}
		other, err = sqlite.OpenFile(ctx, file, nil)
	case "postgres":
		var schema string
		if err := s.SQL().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		other, err = postgres.Open(ctx, WithSearchPath(os.Getenv("GATEHOUSE_TEST_POSTGRES"), schema), nil)
	default:
		t.Fatalf("no second handle for %s", s.Dialect())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// auditRows makes n records continuing head; the hashes are only labels
// here (the audit package computes real ones).
func auditRows(head store.AuditHead, n int, at time.Time, actor string) []store.AuditRecord {
	out := make([]store.AuditRecord, n)
	prev := head.Hash
	for i := range out {
		seq := head.Seq + int64(i) + 1
		h := fmt.Sprintf("h%d", seq)
		out[i] = store.AuditRecord{Seq: seq, Time: at, Event: []byte(fmt.Sprintf(`{"type":"t","n":%d}`, seq)),
			Prev: prev, Hash: h, Type: "t", Actor: actor}
		prev = h
	}
	return out
}

func appendAuditN(t *testing.T, s store.AuditStore, n int, at time.Time, actor string) store.AuditHead {
	t.Helper()
	h, err := s.AppendAudit(context.Background(), func(head store.AuditHead) ([]store.AuditRecord, error) {
		return auditRows(head, n, at, actor), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func auditSeqs(rs []store.AuditRecord) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func testAuditAppend(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	h0, err := s.AuditHead(ctx)
	mustNil(t, err)
	if h0.Seq != 0 || len(h0.Hash) != 64 {
		t.Fatalf("empty head = %+v", h0)
	}
	at := time.Date(2026, 11, 2, 9, 14, 3, 123456000, time.UTC)
	want := auditRows(h0, 3, at, "alice")
	want[2].Sig = "a.b.c"
	h, err := s.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditRecord, error) {
		if diff := cmp.Diff(h0, head); diff != "" {
			t.Errorf("build got head (-want +got):\n%s", diff)
		}
		return want, nil
	})
	mustNil(t, err)
	if diff := cmp.Diff(store.AuditHead{Seq: 3, Hash: "h3"}, h); diff != "" {
		t.Errorf("new head (-want +got):\n%s", diff)
	}
	got, err := s.AuditRecords(ctx, store.AuditFilter{})
	mustNil(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	// A build error aborts everything.
	boom := errors.New("boom")
	_, err = s.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditRecord, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("build error: got %v", err)
	}
	// Records that do not continue the head are refused.
	_, err = s.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditRecord, error) {
		rs := auditRows(head, 2, at, "")
		rs[1].Seq++
		return rs, nil
	})
	if err == nil {
		t.Errorf("a gap was accepted")
	}
	if h, _ := s.AuditHead(ctx); h.Seq != 3 {
		t.Errorf("head moved to %d by failed appends", h.Seq)
	}
	if got, _ := s.AuditRecords(ctx, store.AuditFilter{}); len(got) != 3 {
		t.Errorf("failed appends left %d records", len(got))
	}
	// More rows than one INSERT carries.
	h = appendAuditN(t, s, 150, at, "")
	if h.Seq != 153 {
		t.Errorf("head after 150 more = %d", h.Seq)
	}
}

// testAuditAppendConcurrent races appenders: the chain stays gap-free and
// each append sees the head the previous one left.
// A record's single-use marker commits with it: the marker is then used for
// every replica's Consume, and a second append carrying it fails whole.
func testAuditAppendMarks(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	at := time.Now().Truncate(time.Microsecond)
	m := &store.Marker{Kind: "slip", ID: "jti-1", Expires: at.Add(time.Minute)}
	head, err := s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
		recs := auditRows(h, 3, at, "alice")
		recs[1].Marks = m
		return recs, nil
	})
	if err != nil || head.Seq != 3 {
		t.Fatalf("append: %v, head %+v", err, head)
	}
	for _, h := range []*sqldb.DB{s, SecondHandle(t, s)} {
		if first, err := h.Consume(ctx, m.Kind, m.ID, m.Expires); err != nil || first {
			t.Errorf("Consume after the append: first=%v, %v; want the marker used", first, err)
		}
	}
	// Markers of other kinds and ids are untouched.
	if first, err := s.Consume(ctx, "slip", "jti-2", m.Expires); err != nil || !first {
		t.Errorf("another marker: first=%v, %v", first, err)
	}

	_, err = s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
		recs := auditRows(h, 2, at, "bob")
		recs[0].Marks = &store.Marker{Kind: "slip", ID: "jti-3", Expires: at.Add(time.Minute)}
		recs[1].Marks = &store.Marker{Kind: "slip", ID: "jti-1", Expires: at.Add(time.Minute)}
		return recs, nil
	})
	if err == nil {
		t.Fatal("an append carrying a used marker succeeded")
	}
	if h, err := s.AuditHead(ctx); err != nil || h != head {
		t.Fatalf("head after the failed append: %+v, %v; want %+v", h, err, head)
	}
	if rs, err := s.AuditRecords(ctx, store.AuditFilter{Actor: "bob"}); err != nil || len(rs) != 0 {
		t.Fatalf("records of the failed append: %d, %v", len(rs), err)
	}
	// Nor did its fresh marker stay behind.
	if first, err := s.Consume(ctx, "slip", "jti-3", m.Expires); err != nil || !first {
		t.Errorf("the failed append's fresh marker: first=%v, %v; want unused", first, err)
	}
}

// AppendAuditAt appends records built in advance when the head is the one
// they continue, with their markers, in one step; on a head that moved it
// writes nothing. SQLite declines (applied false, nothing written).
func testAuditAppendAt(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	at := time.Now().Truncate(time.Microsecond)
	head := appendAuditN(t, s, 2, at, "alice")
	recs := auditRows(head, 3, at, "bob")
	recs[1].Marks = &store.Marker{Kind: "slip", ID: "at-1", Expires: at.Add(time.Minute)}
	got, applied, err := s.AppendAuditAt(ctx, head, recs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dialect() == "sqlite" {
		if applied {
			t.Fatal("SQLite applied AppendAuditAt; it should decline")
		}
		if h, _ := s.AuditHead(ctx); h != head {
			t.Fatalf("SQLite wrote on a declined append: %+v", h)
		}
		return
	}
	if !applied || got.Seq != 5 || got.Hash != recs[2].Hash {
		t.Fatalf("AppendAuditAt = %+v, %v", got, applied)
	}
	rs, err := s.AuditRecords(ctx, store.AuditFilter{After: head.Seq})
	if err != nil || len(rs) != 3 {
		t.Fatalf("records after the append: %d, %v", len(rs), err)
	}
	for i, r := range rs {
		want := recs[i]
		want.Marks = nil
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("record %d (-want +got):\n%s", i, diff)
		}
	}
	if first, err := s.Consume(ctx, "slip", "at-1", at.Add(time.Minute)); err != nil || first {
		t.Errorf("the marker: first=%v, %v; want used", first, err)
	}
	// A stale head: nothing written, the current head answered.
	stale := auditRows(head, 1, at, "carol")
	cur, applied, err := s.AppendAuditAt(ctx, head, stale)
	if err != nil || applied || cur != got {
		t.Fatalf("on a stale head: %+v, %v, %v; want %+v, not applied", cur, applied, err, got)
	}
	// A used marker fails the whole append.
	more := auditRows(got, 2, at, "dave")
	more[1].Marks = &store.Marker{Kind: "slip", ID: "at-1", Expires: at.Add(time.Minute)}
	if _, _, err := s.AppendAuditAt(ctx, got, more); err == nil {
		t.Fatal("an append carrying a used marker succeeded")
	}
	if h, err := s.AuditHead(ctx); err != nil || h != got {
		t.Fatalf("head after the failed append: %+v, %v", h, err)
	}
	// Two replicas on the same head: one applies, the other finds it moved.
	other := SecondHandle(t, s)
	a, b := auditRows(got, 1, at, "erin"), auditRows(got, 1, at, "frank")
	var wg sync.WaitGroup
	var results [2]bool
	for i, h := range []*sqldb.DB{s, other} {
		wg.Go(func() {
			_, ok, err := h.AppendAuditAt(ctx, got, [][]store.AuditRecord{a, b}[i])
			if err != nil {
				t.Error(err)
			}
			results[i] = ok
		})
	}
	wg.Wait()
	if results[0] == results[1] {
		t.Errorf("two appends on one head: applied %v", results)
	}
	if h, _ := s.AuditHead(ctx); h.Seq != got.Seq+1 {
		t.Errorf("head %+v after the race, want seq %d", h, got.Seq+1)
	}
}

func testAuditAppendConcurrent(t *testing.T, s *sqldb.DB) {
	raceAuditAppends(t, []*sqldb.DB{s, s})
}

func testAuditAppendTwoHandles(t *testing.T, s *sqldb.DB) {
	raceAuditAppends(t, []*sqldb.DB{s, SecondHandle(t, s)})
}

func raceAuditAppends(t *testing.T, handles []*sqldb.DB) {
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		s := handles[w%len(handles)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditRecord, error) {
					return auditRows(head, 2, time.Now(), ""), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := handles[0].AuditRecords(ctx, store.AuditFilter{Limit: 1000})
	mustNil(t, err)
	if len(got) != workers*each*2 {
		t.Fatalf("%d records, want %d", len(got), workers*each*2)
	}
	prev := "0000000000000000000000000000000000000000000000000000000000000000"
	for i, r := range got {
		if r.Seq != int64(i)+1 || r.Prev != prev {
			t.Fatalf("record %d: seq %d prev %q, want seq %d prev %q", i, r.Seq, r.Prev, i+1, prev)
		}
		prev = r.Hash
	}
}

func testAuditFilter(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var head store.AuditHead
	for i, r := range []store.AuditRecord{
		{Type: "login.succeeded", Actor: "alice", Session: "s1"},
		{Type: "tool.decision", Actor: "alice", Agent: "bot", Tool: "sales_report", Decision: "allow", Correlation: "c1", Session: "s1"},
		{Type: "tool.result", Actor: "alice", Agent: "bot", Tool: "sales_report", Correlation: "c1"},
		{Type: "tool.decision", Actor: "bob", Agent: "bot", Tool: "payroll_report", Decision: "deny", Correlation: "c2"},
		{Type: "logout", Actor: "alice", Session: "s1"},
	} {
		var err error
		head, err = s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
			r.Seq, r.Time, r.Event, r.Prev, r.Hash = h.Seq+1, t0.Add(time.Duration(i)*time.Hour), []byte(`{}`), h.Hash, fmt.Sprint(i)
			return []store.AuditRecord{r}, nil
		})
		mustNil(t, err)
	}
	if head.Seq != 5 {
		t.Fatalf("head %d", head.Seq)
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all", store.AuditFilter{}, []int64{1, 2, 3, 4, 5}},
		{"after", store.AuditFilter{After: 3}, []int64{4, 5}},
		{"before", store.AuditFilter{Before: 3}, []int64{1, 2}},
		{"desc limit", store.AuditFilter{Desc: true, Limit: 2}, []int64{5, 4}},
		{"types", store.AuditFilter{Types: []string{"logout", "login.succeeded"}}, []int64{1, 5}},
		{"actor", store.AuditFilter{Actor: "bob"}, []int64{4}},
		{"agent", store.AuditFilter{Agent: "bot"}, []int64{2, 3, 4}},
		{"tool", store.AuditFilter{Tool: "sales_report"}, []int64{2, 3}},
		{"decision", store.AuditFilter{Decision: "deny"}, []int64{4}},
		{"correlation", store.AuditFilter{Correlation: "c1"}, []int64{2, 3}},
		{"session", store.AuditFilter{Session: "s1"}, []int64{1, 2, 5}},
		{"since until", store.AuditFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, []int64{2, 3}},
		{"combined", store.AuditFilter{Actor: "alice", Types: []string{"tool.decision", "tool.result"}, After: 2}, []int64{3}},
		{"limit", store.AuditFilter{Limit: 2}, []int64{1, 2}},
		{"none", store.AuditFilter{Actor: "mallory"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AuditRecords(ctx, tt.f)
			mustNil(t, err)
			if diff := cmp.Diff(tt.want, auditSeqs(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func testAuditCheckpoints(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []store.AuditCheckpoint
	for i := range 3 {
		c := store.AuditCheckpoint{Seq: int64(i * 10), Hash: fmt.Sprint("h", i), Time: at.Add(time.Duration(i) * time.Minute), Kind: "manual", JWS: fmt.Sprint("jws", i)}
		id, err := s.AddAuditCheckpoint(ctx, c)
		mustNil(t, err)
		if len(want) > 0 && id <= want[len(want)-1].ID {
			t.Errorf("ID %d does not increase", id)
		}
		c.ID = id
		want = append(want, c)
	}
	got, err := s.AuditCheckpoints(ctx, 0, 0)
	mustNil(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = s.AuditCheckpoints(ctx, want[0].ID, 1)
	mustNil(t, err)
	if diff := cmp.Diff(want[1:2], got); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
}

func testAuditPrune(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	appendAuditN(t, s, 3, t0, "")
	appendAuditN(t, s, 2, t0.Add(2*time.Hour), "")
	// A record whose clock ran behind: pruning must stop before the
	// first record that is new enough, so it is kept.
	appendAuditN(t, s, 1, t0, "")
	_, err := s.AddAuditCheckpoint(ctx, store.AuditCheckpoint{Seq: 2, Hash: "h2", Time: t0, Kind: "periodic", JWS: "old"})
	mustNil(t, err)

	n, err := s.PruneAudit(ctx, t0.Add(time.Hour), 0, func(last store.AuditRecord) (store.AuditCheckpoint, error) {
		if last.Seq != 3 || last.Hash != "h3" {
			t.Errorf("mark got record %d %q, want 3 h3", last.Seq, last.Hash)
		}
		return store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, Time: t0, Kind: "prune", JWS: "p"}, nil
	})
	mustNil(t, err)
	if n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	got, err := s.AuditRecords(ctx, store.AuditFilter{})
	mustNil(t, err)
	if diff := cmp.Diff([]int64{4, 5, 6}, auditSeqs(got)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	cps, err := s.AuditCheckpoints(ctx, 0, 0)
	mustNil(t, err)
	if len(cps) != 1 || cps[0].Kind != "prune" || cps[0].Seq != 3 {
		t.Errorf("checkpoints after prune = %+v, want the prune one only", cps)
	}
	// Nothing older left: no mark, nothing deleted.
	n, err = s.PruneAudit(ctx, t0.Add(time.Hour), 0, func(store.AuditRecord) (store.AuditCheckpoint, error) {
		t.Error("mark called with nothing to prune")
		return store.AuditCheckpoint{}, nil
	})
	if err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
	// Records a crash left at or before the prune checkpoint go with the
	// next call that resumes from it, though there is nothing new to
	// prune; one that does not name it deletes nothing.
	leave := func(seq int) {
		if _, err := s.SQL().ExecContext(ctx, s.Rebind("INSERT INTO audit_log (seq, at, event, prev, hash, type) VALUES (?, ?, '{}', ?, ?, 't')"),
			seq, t0.UnixMicro(), fmt.Sprintf("h%d", seq-1), fmt.Sprintf("h%d", seq)); err != nil {
			t.Fatal(err)
		}
	}
	leave(2)
	noMark := func(store.AuditRecord) (store.AuditCheckpoint, error) {
		t.Error("mark called with nothing new to prune")
		return store.AuditCheckpoint{}, nil
	}
	if n, err = s.PruneAudit(ctx, t0.Add(time.Hour), 0, noMark); err != nil || n != 0 {
		t.Errorf("leftover without resume: %d, %v; want none deleted", n, err)
	}
	// The one at the checkpoint too, where the old prefix ends: it is no
	// new prefix to mark.
	leave(3)
	n, err = s.PruneAudit(ctx, t0.Add(time.Hour), 3, noMark)
	if err != nil || n != 2 {
		t.Errorf("leftover cleanup: %d, %v; want 2 deleted", n, err)
	}
	// A failing mark keeps everything.
	boom := errors.New("boom")
	if _, err := s.PruneAudit(ctx, t0.Add(24*time.Hour), 0, func(store.AuditRecord) (store.AuditCheckpoint, error) {
		return store.AuditCheckpoint{}, boom
	}); !errors.Is(err, boom) {
		t.Errorf("mark error: got %v", err)
	}
	// Everything old: the whole log goes, the head stays.
	n, err = s.PruneAudit(ctx, t0.Add(24*time.Hour), 0, func(last store.AuditRecord) (store.AuditCheckpoint, error) {
		return store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, Time: t0, Kind: "prune", JWS: "p2"}, nil
	})
	mustNil(t, err)
	if n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	if h, _ := s.AuditHead(ctx); h.Seq != 6 {
		t.Errorf("head after pruning everything = %d, want 6", h.Seq)
	}
	if h := appendAuditN(t, s, 1, t0, ""); h.Seq != 7 {
		t.Errorf("append after pruning everything got seq %d", h.Seq)
	}
}

// testAuditPruneLarge prunes more records than one deleting transaction
// takes.
func testAuditPruneLarge(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	appendAuditN(t, s, 12345, t0, "")
	appendAuditN(t, s, 1, t0.Add(time.Hour), "")
	n, err := s.PruneAudit(ctx, t0.Add(time.Minute), 0, func(last store.AuditRecord) (store.AuditCheckpoint, error) {
		return store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, Time: t0, Kind: "prune", JWS: "p"}, nil
	})
	mustNil(t, err)
	if n != 12345 {
		t.Errorf("pruned %d, want 12345", n)
	}
	got, err := s.AuditRecords(ctx, store.AuditFilter{})
	mustNil(t, err)
	if diff := cmp.Diff([]int64{12346}, auditSeqs(got)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

func testAuditCursors(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	seq, err := s.AuditCursor(ctx, "webhook")
	mustNil(t, err)
	if seq != 0 {
		t.Errorf("new cursor = %d", seq)
	}
	for _, step := range []struct{ set, want int64 }{{5, 5}, {9, 9}, {3, 9}} {
		mustNil(t, s.SetAuditCursor(ctx, "webhook", step.set))
		got, err := s.AuditCursor(ctx, "webhook")
		mustNil(t, err)
		if got != step.want {
			t.Errorf("after set %d: cursor %d, want %d", step.set, got, step.want)
		}
	}
	if got, _ := s.AuditCursor(ctx, "syslog"); got != 0 {
		t.Errorf("another stream's cursor = %d", got)
	}
	// A value kept beside a position goes back as well as forward.
	for _, v := range []int64{800, 100, 0} {
		mustNil(t, s.PutAuditCursor(ctx, "webhook#backoff", v))
		if got, err := s.AuditCursor(ctx, "webhook#backoff"); err != nil || got != v {
			t.Errorf("after put %d: %d, %v", v, got, err)
		}
	}
	if got, _ := s.AuditCursor(ctx, "webhook"); got != 9 {
		t.Errorf("the position moved with another value: %d", got)
	}
}

// testAuditCursorClaims: one sender per stream at a time; another takes
// over once the claim runs out.
func testAuditCursorClaims(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease := 30 * time.Second
	steps := []struct {
		name    string
		owner   string
		at      time.Duration
		setSeq  int64 // when > 0, SetAuditCursor before claiming
		held    bool
		wantSeq int64
	}{
		{"first claim creates the stream", "a", 0, 0, true, 0},
		{"another owner is refused", "b", 10 * time.Second, 0, false, 0},
		{"the owner renews", "a", 20 * time.Second, 7, true, 7},
		{"still refused before the renewed claim ends", "b", 45 * time.Second, 0, false, 7},
		{"taken over after it ends", "b", 51 * time.Second, 0, true, 7},
		{"the old owner is refused now", "a", 52 * time.Second, 0, false, 7},
	}
	for _, st := range steps {
		if st.setSeq > 0 {
			mustNil(t, s.SetAuditCursor(ctx, "webhook:x", st.setSeq))
		}
		now := t0.Add(st.at)
		held, seq, end, err := s.ClaimAuditCursor(ctx, "webhook:x", st.owner, now, now.Add(lease), 0)
		mustNil(t, err)
		if held != st.held || seq != st.wantSeq {
			t.Errorf("%s: held %v seq %d, want %v %d", st.name, held, seq, st.held, st.wantSeq)
		}
		if held && end != now.Add(lease).UnixMicro() {
			t.Errorf("%s: the claim ends at %d, want %d", st.name, end, now.Add(lease).UnixMicro())
		}
	}
	// A claim until now gives it up: another owner gets it at once.
	release := t0.Add(60 * time.Second)
	if _, _, _, err := s.ClaimAuditCursor(ctx, "webhook:x", "b", release, release, 0); err != nil {
		t.Fatal(err)
	}
	if held, _, _, err := s.ClaimAuditCursor(ctx, "webhook:x", "c", release, release.Add(lease), 0); err != nil || !held {
		t.Errorf("claim after a release: held %v, %v", held, err)
	}
	// A claim written by a clock an hour ahead: refused while it runs,
	// taken over when the caller names its end as stale (seen unchanged
	// for a lease), and a stale end that is no longer the claim's (the
	// sender renewed meanwhile) takes nothing.
	ahead := release.Add(time.Hour)
	_, _, aheadEnd, err := s.ClaimAuditCursor(ctx, "webhook:x", "c", ahead, ahead.Add(lease), 0)
	mustNil(t, err)
	later := release.Add(2 * time.Minute)
	if held, _, end, err := s.ClaimAuditCursor(ctx, "webhook:x", "d", later, later.Add(lease), 0); err != nil || held || end != aheadEnd {
		t.Errorf("a claim running ahead: held %v, end %d (want %d), %v", held, end, aheadEnd, err)
	}
	if held, _, _, err := s.ClaimAuditCursor(ctx, "webhook:x", "d", later, later.Add(lease), aheadEnd-1); err != nil || held {
		t.Errorf("a stale end that is not the claim's took it: %v, %v", held, err)
	}
	if held, _, end, err := s.ClaimAuditCursor(ctx, "webhook:x", "d", later, later.Add(lease), aheadEnd); err != nil || !held || end != later.Add(lease).UnixMicro() {
		t.Errorf("a stale claim not taken over: held %v, end %d, %v", held, end, err)
	}
	// Claims of one stream do not touch another.
	held, _, _, err := s.ClaimAuditCursor(ctx, "syslog:y", "a", t0, t0.Add(lease), 0)
	mustNil(t, err)
	if !held {
		t.Errorf("claim of another stream refused")
	}
}

// testAuditInTx: a tenant change and its audit records commit together,
// and a failure of either (the change, build, or the append itself) leaves
// neither.
func testAuditInTx(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	appendAuditN(t, s, 2, at, "")
	addRole := func(name string) func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		return func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
			if err := tx.Roles().Create(ctx, store.Role{Name: name}); err != nil {
				return nil, err
			}
			return func(h store.AuditHead) ([]store.AuditRecord, error) { return auditRows(h, 1, at, "admin"), nil }, nil
		}
	}
	h, err := s.InTxAudit(ctx, addRole("auditor"))
	mustNil(t, err)
	if h.Seq != 3 || h.Hash != "h3" {
		t.Fatalf("head after the change = %+v, want seq 3", h)
	}
	if _, err := s.Roles().Get(ctx, "auditor"); err != nil {
		t.Fatalf("the change was not kept: %v", err)
	}

	// The append fails (a record already at the next seq, written behind
	// the head's back): the change goes with it.
	_, err = s.SQL().ExecContext(ctx, s.Rebind(`INSERT INTO audit_log (seq, at, event, prev, hash, type) VALUES (?, ?, '{}', 'h3', 'x4', 't')`), 4, at.UnixMicro())
	mustNil(t, err)
	if _, err := s.InTxAudit(ctx, addRole("sales")); err == nil {
		t.Fatal("InTxAudit succeeded on a chain it could not append to")
	}
	if _, err := s.Roles().Get(ctx, "sales"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the change was kept without its record: %v", err)
	}
	_, err = s.SQL().ExecContext(ctx, s.Rebind(`DELETE FROM audit_log WHERE seq = ?`), 4)
	mustNil(t, err)

	// build fails: nothing is kept, and its error comes back as is.
	boom := errors.New("boom")
	_, err = s.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		if err := tx.Roles().Create(ctx, store.Role{Name: "ops"}); err != nil {
			return nil, err
		}
		return func(store.AuditHead) ([]store.AuditRecord, error) { return nil, boom }, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("build's error = %v, want boom", err)
	}
	// The change fails: nothing is appended.
	_, err = s.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		if err := tx.Roles().Create(ctx, store.Role{Name: "ops"}); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("change's error = %v, want boom", err)
	}
	if _, err := s.Roles().Get(ctx, "ops"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed change was kept: %v", err)
	}
	// No build: the change alone, and the head as it is.
	h, err = s.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
		return nil, tx.Roles().Create(ctx, store.Role{Name: "ops"})
	})
	mustNil(t, err)
	if h.Seq != 3 {
		t.Fatalf("head = %+v, want seq 3", h)
	}
	got, err := s.AuditRecords(ctx, store.AuditFilter{})
	mustNil(t, err)
	if d := cmp.Diff([]int64{1, 2, 3}, auditSeqs(got)); d != "" {
		t.Fatalf("records (-want +got):\n%s", d)
	}
}

// testAuditInTxRacesAppends: changes with their records, from two
// handles (replicas), race plain appends; the chain stays one gap-free
// sequence and every change has its record.
func testAuditInTxRacesAppends(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	handles := []*sqldb.DB{s, SecondHandle(t, s)}
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for w := range workers {
		h := handles[w%len(handles)]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("r%d-%d", w, i)
				_, err := h.InTxAudit(ctx, func(tx store.Tenant) (func(store.AuditHead) ([]store.AuditRecord, error), error) {
					if err := tx.Roles().Create(ctx, store.Role{Name: name}); err != nil {
						return nil, err
					}
					return func(head store.AuditHead) ([]store.AuditRecord, error) {
						return auditRows(head, 1, time.Now(), name), nil
					}, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				if _, err := h.AppendAudit(ctx, func(head store.AuditHead) ([]store.AuditRecord, error) {
					return auditRows(head, 2, time.Now(), ""), nil
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := s.AuditRecords(ctx, store.AuditFilter{Limit: 1000})
	mustNil(t, err)
	if want := workers * each * 3; len(got) != want {
		t.Fatalf("%d records, want %d", len(got), want)
	}
	prev := "0000000000000000000000000000000000000000000000000000000000000000"
	for i, r := range got {
		if r.Seq != int64(i)+1 || r.Prev != prev {
			t.Fatalf("record %d: seq %d prev %q, want seq %d prev %q", i, r.Seq, r.Prev, i+1, prev)
		}
		prev = r.Hash
	}
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("r%d-%d", w, i)
			if _, err := s.Roles().Get(ctx, name); err != nil {
				t.Errorf("role %s: %v", name, err)
			}
			if rs, err := s.AuditRecords(ctx, store.AuditFilter{Actor: name}); err != nil || len(rs) != 1 {
				t.Errorf("records of %s: %d (%v)", name, len(rs), err)
			}
		}
	}
}
