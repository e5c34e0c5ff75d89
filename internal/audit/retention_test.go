package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// gateSink takes records up to a seq that the test moves, one per Send
// (Batch 1), and fails on the first it may not take yet.
type gateSink struct {
	name  string
	allow atomic.Int64
	mu    sync.Mutex
	got   map[int64]bool
}

func (g *gateSink) Name() string { return g.name }

func (g *gateSink) Send(_ context.Context, entries []audit.Entry) error {
	for _, e := range entries {
		if e.Seq > g.allow.Load() {
			return fmt.Errorf("sink down at %d", e.Seq)
		}
		g.mu.Lock()
		g.got[e.Seq] = true
		g.mu.Unlock()
	}
	return nil
}

// waitStuckAt waits until the stream has delivered through seq and failed
// on the next record.
func waitStuckAt(t *testing.T, ss *audit.Streams, seq int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := ss.Stats()[0]
		if st.Cursor == seq && st.Failing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream never stuck at %d: %+v", seq, st)
		}
		runtime.Gosched()
	}
}

func mustVerify(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), nil)
	if err != nil {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	return rep
}

// TestPruneKeepsUndelivered: a failing stream holds pruning back (counted
// and logged); the records it holds are delivered once it recovers, then
// pruned; the chain verifies throughout.
func TestPruneKeepsUndelivered(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		var logs bytes.Buffer
		var logMu sync.Mutex
		e := newEnv(t, open, &audit.Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))})
		ctx := context.Background()
		sink := &gateSink{name: "gate", got: map[int64]bool{}}
		ss := e.log.Stream([]audit.Sink{sink}, &audit.StreamOptions{Batch: 1, MinBackoff: time.Millisecond,
			MaxBackoff: 2 * time.Millisecond, FromStart: true})
		defer ss.Close()
		e.record(t, events(5)...) // 09:00:00 … 09:00:04
		cut := e.clock.Now()
		e.clock.Advance(time.Hour)
		e.record(t, events(3)...) // seq 6, 7, 8

		// Down from the start: nothing goes.
		waitStuckAt(t, ss, 0)
		n, err := e.log.Prune(ctx, cut)
		if err != nil || n != 0 {
			t.Fatalf("prune while the sink is down: %d, %v", n, err)
		}
		if st := ss.Stats()[0]; st.HeldBack != 5 {
			t.Errorf("held back %d, want 5", st.HeldBack)
		}
		logMu.Lock()
		warn := logs.String()
		logMu.Unlock()
		if strings.Count(warn, "audit retention held back") != 1 || !strings.Contains(warn, "sink=gate") ||
			!strings.Contains(warn, "records=5") {
			t.Errorf("warning: %s", warn)
		}
		mustVerify(t, e.log)

		// It took 1…3: only those go.
		sink.allow.Store(3)
		waitStuckAt(t, ss, 3)
		if n, err := e.log.Prune(ctx, cut); err != nil || n != 3 {
			t.Fatalf("prune after 3 delivered: %d, %v", n, err)
		}
		if st := ss.Stats()[0]; st.HeldBack != 2 {
			t.Errorf("held back %d, want 2", st.HeldBack)
		}
		if rep := mustVerify(t, e.log); rep.Anchor == nil || rep.Anchor.Seq != 3 || rep.First != 4 {
			t.Errorf("after the first prune: %+v", rep)
		}

		// It recovers: it gets everything that was held (and the
		// audit.pruned record), then pruning goes on.
		sink.allow.Store(1 << 40)
		head, _, err := e.log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for ss.Stats()[0].Cursor != head {
			runtime.Gosched()
		}
		sink.mu.Lock()
		for seq := int64(1); seq <= head; seq++ {
			if !sink.got[seq] {
				t.Errorf("record %d never delivered", seq)
			}
		}
		sink.mu.Unlock()
		if n, err := e.log.Prune(ctx, cut); err != nil || n != 2 {
			t.Fatalf("prune after recovery: %d, %v", n, err)
		}
		if st := ss.Stats()[0]; st.HeldBack != 0 {
			t.Errorf("held back %d after recovery", st.HeldBack)
		}
		if rep := mustVerify(t, e.log); rep.Anchor == nil || rep.Anchor.Seq != 5 || rep.First != 6 {
			t.Errorf("after recovery: %+v", rep)
		}
	})
}

// TestPruneIgnoresRemovedStreams: a position left in the store by a
// stream that is no longer configured holds nothing back; a stream that
// has not started yet holds back only what it will send.
func TestPruneIgnoresRemovedStreams(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(5)...)
	if err := e.st.SetAuditCursor(ctx, "webhook:removed", 1); err != nil {
		t.Fatal(err)
	}
	cut := e.clock.Now()
	e.clock.Advance(time.Hour)
	e.record(t, events(1)...)
	// A new stream (not from the start) sends from seq 7 on: it never
	// sends 1…6, so it holds none of them, even before it stored its
	// position (the sink is a webhook nobody listens to).
	wh, err := audit.NewWebhook("new", "http://127.0.0.1:1/", []byte("webhook-test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := e.log.Stream([]audit.Sink{wh}, &audit.StreamOptions{MinBackoff: time.Hour})
	defer ss.Close()
	n, err := e.log.Prune(ctx, cut)
	if err != nil || n != 5 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if st := ss.Stats()[0]; st.HeldBack != 0 {
		t.Errorf("held back %d", st.HeldBack)
	}
	mustVerify(t, e.log)
}

// TestPruneStoreErrorPrunesNothing: when a stream's position cannot be
// read, nothing is pruned.
func TestPruneStoreErrorPrunesNothing(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(3)...)
	cut := e.clock.Now()
	sink := &gateSink{name: "gate", got: map[int64]bool{}}
	ss := e.log.Stream([]audit.Sink{sink}, &audit.StreamOptions{MinBackoff: time.Hour, FromStart: true})
	defer ss.Close()
	e.exec(t, `DROP TABLE audit_cursors`)
	n, err := e.log.Prune(ctx, cut.Add(time.Second))
	if err == nil || n != 0 {
		t.Fatalf("prune without stream positions: %d, %v", n, err)
	}
	if errors.Is(err, audit.ErrNoKeys) {
		t.Fatal(err)
	}
	if rep := mustVerify(t, e.log); rep.First != 1 {
		t.Errorf("pruned anyway: %+v", rep)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestRetentionPrunesAtStartAndWhenChanged: a log with a retention prunes
// when it starts (a server restarted more often than hourly must prune
// too), and a changed retention applies at once.
func TestRetentionPrunesAtStartAndWhenChanged(t *testing.T) {
	e := newEnv(t, storetestSQLite, &audit.Options{CheckpointInterval: time.Hour})
	e.record(t, events(5)...)
	e.clock.Advance(48 * time.Hour)
	l := audit.New(e.st, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: time.Hour, Retention: 24 * time.Hour})
	defer l.Close()
	anchored := func(seq int64) func() bool {
		return func() bool {
			rep, err := l.Verify(context.Background(), nil)
			return err == nil && rep.Anchor != nil && rep.Anchor.Seq == seq
		}
	}
	waitUntil(t, "pruned at start", anchored(5))
	for _, ev := range events(3) {
		if err := l.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(2 * time.Hour)
	l.SetRetention(time.Hour)
	waitUntil(t, "pruned when the retention changed", anchored(9)) // 6 is the first pruning's record
}

// waitUntil polls cond for up to 30 s (a hang, not a timing).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPruneRefusesATamperedChain: records whose time was moved back (so
// that retention would prune them, evidence and all) make the chain fail
// verification, and pruning then cuts nothing: its checkpoint would vouch
// for what it cut.
func TestPruneRefusesATamperedChain(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(6)...)
	e.exec(t, `UPDATE audit_log SET at = at - 7200000000 WHERE seq >= 4`) // two hours back
	if _, err := e.log.Prune(ctx, e.clock.Now().Add(-time.Hour)); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Prune over a tampered chain: %v", err)
	}
	rep, err := e.log.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) || rep.Anchor != nil || rep.Records != 6 {
		t.Errorf("after the refused prune: %v %+v", err, rep)
	}
}

// tamperingStore runs tamper just before the pruning transaction: after
// Prune's verification walk, as an attacker at the database could.
type tamperingStore struct {
	store.AuditStore
	tamper func()
}

func (s *tamperingStore) PruneAudit(ctx context.Context, before time.Time, resume int64, mark func(store.AuditRecord) (store.AuditCheckpoint, error)) (int64, error) {
	s.tamper()
	return s.AuditStore.PruneAudit(ctx, before, resume, mark)
}

// TestPruneRefusesTimesMovedAfterItsWalk: records' stored times moved back
// between Prune's verification and its transaction (to have recent
// records, and their evidence, pruned under a genuine signature) are
// refused: nothing is pruned, and verify still reports the edit.
func TestPruneRefusesTimesMovedAfterItsWalk(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(6)...)
	ts := &tamperingStore{AuditStore: e.st, tamper: func() {
		e.exec(t, `UPDATE audit_log SET at = at - 7200000000 WHERE seq <= 5`) // two hours back
	}}
	l := audit.New(ts, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
	defer l.Close()
	n, err := l.Prune(ctx, e.clock.Now().Add(-time.Hour))
	if !errors.Is(err, audit.ErrChainBroken) || n != 0 {
		t.Fatalf("Prune over times moved after its walk: %d, %v", n, err)
	}
	rep, err := e.log.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) || rep.Anchor != nil || rep.Records != 6 {
		t.Errorf("after the refused prune: %v %+v", err, rep)
	}
}

// TestPruneRefusesHeadRehashedAfterItsWalk: as above, but the recent
// records' times are moved back and the last of them, the head, is
// re-hashed with its new time (the head row too), so that the record the
// cut ends at hashes to its stored hash. The cut must end at the record
// Prune's walk verified as the last old one, with the hash it saw: nothing
// is pruned, and no pruning checkpoint vouches for the forged hash.
// Before, records 1 to 7, the recent ones among them, were pruned under a
// genuine checkpoint.
func TestPruneRefusesHeadRehashedAfterItsWalk(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(3)...) // old
	e.clock.Advance(3 * time.Hour)
	e.record(t, events(4)...) // recent: 4 to 7
	ts := &tamperingStore{AuditStore: e.st, tamper: func() {
		e.exec(t, `UPDATE audit_log SET at = at - 7200000000 WHERE seq >= 4`) // two hours back
		var (
			prev, ev string
			at       int64
		)
		if err := e.st.SQL().QueryRow(`SELECT prev, event, at FROM audit_log WHERE seq = 7`).Scan(&prev, &ev, &at); err != nil {
			t.Fatal(err)
		}
		h := specHash(prev, 7, at, ev)
		e.exec(t, `UPDATE audit_log SET hash = ? WHERE seq = 7`, h)
		e.exec(t, `UPDATE audit_head SET hash = ? WHERE id = 1`, h)
	}}
	l := audit.New(ts, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
	defer l.Close()
	n, err := l.Prune(ctx, e.clock.Now().Add(-time.Hour))
	if !errors.Is(err, audit.ErrChainBroken) || n != 0 {
		t.Fatalf("Prune over a head re-hashed after its walk: %d, %v", n, err)
	}
	rep, err := e.log.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) || rep.Anchor != nil || rep.Records != 7 {
		t.Errorf("after the refused prune: %v %+v", err, rep)
	}
}

// TestPruneTrustsOnlyVerifiedCheckpoints: a row planted in the
// checkpoints table that calls itself a pruning checkpoint (with a real
// batch signature, so verify accepts the row) does not make the server
// delete the records before it.
func TestPruneTrustsOnlyVerifiedCheckpoints(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(6)...)
	var sig string
	if err := e.st.SQL().QueryRow(`SELECT sig FROM audit_log WHERE seq = 4`).Scan(&sig); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (4, ?, ?, 'prune', ?)`,
		e.hashOf(t, 4), e.clock.Now().UnixMicro(), sig)
	mustVerify(t, e.log)
	// A retention that covers nothing.
	if n, err := e.log.Prune(ctx, e.clock.Now().Add(-24*time.Hour)); err != nil || n != 0 {
		t.Errorf("prune with nothing old: %d, %v", n, err)
	}
	if rep := mustVerify(t, e.log); rep.First != 1 || rep.Records != 6 {
		t.Errorf("records deleted by a planted row: %+v", rep)
	}
}

// pruningStore prunes, through another Log, the first time the records
// are read: a verification that walks while retention prunes.
type pruningStore struct {
	store.AuditStore
	once  sync.Once
	prune func()
}

func (p *pruningStore) AuditRecords(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	p.once.Do(p.prune)
	return p.AuditStore.AuditRecords(ctx, f)
}

// TestVerifyWhilePruning: a pruning that cuts the chain's start while
// verify walks it is no break: the walk is done again from the new start.
func TestVerifyWhilePruning(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(5)...)
	cut := e.clock.Now()
	e.clock.Advance(time.Hour)
	e.record(t, events(3)...)
	ps := &pruningStore{AuditStore: e.st}
	ps.prune = func() {
		if n, err := e.log.Prune(ctx, cut); err != nil || n != 5 {
			t.Errorf("prune: %d, %v", n, err)
		}
	}
	l := audit.New(ps, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
	defer l.Close()
	rep, err := l.Verify(ctx, nil)
	if err != nil || rep.Anchor == nil || rep.Anchor.Seq != 5 {
		t.Errorf("verify while pruning: %v %+v", err, rep)
	}
}
