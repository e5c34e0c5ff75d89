package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// gatedStore holds the first append until released, so that a test can
// queue records behind a commit in progress: after its records are built
// (a commit running), or, with beforeBuild, before (a transaction waiting
// for the database's write lock).
type gatedStore struct {
	store.AuditStore
	beforeBuild bool
	once        sync.Once
	entered     chan struct{}
	release     chan struct{}
}

func (g *gatedStore) AppendAudit(ctx context.Context, build func(store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	hold := func() {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	if g.beforeBuild {
		hold()
		return g.AuditStore.AppendAudit(ctx, build)
	}
	return g.AuditStore.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
		recs, err := build(h)
		hold()
		return recs, err
	})
}

// TestGroupCommit: what arrives while a commit runs goes into the next
// transaction together, MaxBatch at a time.
func TestGroupCommit(t *testing.T) {
	// 1, then 40 + 40 + 20.
	if got, want := recordBehindGate(t, false), (Stats{Records: 101, Batches: 4}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// TestLateBatching: what queues while a transaction waits for the
// database's write lock joins that transaction (up to MaxBatch), rather
// than waiting for the next one.
func TestLateBatching(t *testing.T) {
	// 1 + 39 that queued during the wait, then 40 + 21.
	if got, want := recordBehindGate(t, true), (Stats{Records: 101, Batches: 3}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// recordBehindGate records one event through a gatedStore (with its
// beforeBuild), queues 100 more while the gate holds the first, then
// releases it. It returns the log's stats once all 101 are in, and checks
// that the log verifies with all of them.
func recordBehindGate(t *testing.T, beforeBuild bool) Stats {
	t.Helper()
	g := &gatedStore{AuditStore: storetest.OpenSQLite(t), beforeBuild: beforeBuild, entered: make(chan struct{}), release: make(chan struct{})}
	l := New(g, nil, &Options{MaxBatch: 40})
	defer l.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.Record(ctx, Event{Type: Logout}); err != nil {
			t.Error(err)
		}
	}()
	<-g.entered
	const queued = 100
	for range queued {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Record(ctx, Event{Type: Logout}); err != nil {
				t.Error(err)
			}
		}()
	}
	for len(l.in) < queued {
		runtime.Gosched()
	}
	close(g.release)
	wg.Wait()
	stats := l.Stats()
	rep, err := l.Verify(ctx, nil)
	if err != nil || rep.Records != 101 {
		t.Errorf("Verify: %v %+v", err, rep)
	}
	return stats
}

// plainKeys "signs" with no signature at all: enough to see which
// checkpoints get written.
type plainKeys struct{}

func (plainKeys) SignJSON(alg, typ string, claims any) (string, error) {
	b, err := json.Marshal(claims)
	return "e30." + base64.RawURLEncoding.EncodeToString(b) + ".", err
}

// Verify takes every token as signed: what the test counts is which
// checkpoints get written, not how they are checked.
func (plainKeys) Verify(token, typ string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}
func (plainKeys) JWKS() []byte { return []byte(`{"keys":[]}`) }

// TestPeriodicCheckpoint: a periodic checkpoint is written when the head
// moved, or when the last one is an hour old (so that the tail stays
// signed by a published key across key rotations), or from a time ahead
// of the clock (stepped back since).
func TestPeriodicCheckpoint(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	l := New(storetest.OpenSQLite(t), plainKeys{}, &Options{Now: func() time.Time { return now }, CheckpointInterval: -1})
	defer l.Close()
	ctx := context.Background()
	steps := []struct {
		name   string
		before func()
		want   bool
	}{
		{"empty log", func() {}, false},
		{"first record", func() { l.Record(ctx, Event{Type: Logout}) }, true},
		{"no change", func() { now = now.Add(59 * time.Minute) }, false},
		{"an hour on", func() { now = now.Add(time.Minute) }, true},
		{"another record", func() { l.Record(ctx, Event{Type: Logout}) }, true},
		{"no change again", func() {}, false},
		{"the clock stepped back a day", func() { now = now.Add(-24 * time.Hour) }, true},
		{"no change after the step", func() { now = now.Add(time.Minute) }, false},
	}
	for _, s := range steps {
		s.before()
		wrote, err := l.checkpointIfMoved(ctx, KindPeriodic)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.want {
			t.Errorf("%s: wrote %v, want %v", s.name, wrote, s.want)
		}
	}
}

// TestCommitDelay: the records of callers that said they are busy share a
// commit: the writer holds a batch while two or more busy callers are
// still out, and stops as soon as they are in or done. A lone busy caller
// (or one with a single other) is never held. CommitDelay is an hour
// here, so a hold that did not end early would hang the test.
func TestCommitDelay(t *testing.T) {
	l := New(storetest.OpenSQLite(t), nil, &Options{CommitDelay: time.Hour})
	defer l.Close()
	l.holding = make(chan struct{}, 1)
	ctx := context.Background()
	record := func() {
		if err := l.Record(ctx, Event{Type: Logout}); err != nil {
			t.Error(err)
		}
	}
	batches := func() int64 { return l.Stats().Batches }
	held := func() {
		t.Helper()
		select {
		case <-l.holding:
		case <-time.After(30 * time.Second): // a hang, not a timing
			t.Fatal("the writer never held the batch")
		}
	}

	// Alone, or with one other caller out: one commit a record, no hold.
	done := l.Busy()
	record()
	record()
	other := l.Busy()
	record()
	other()
	done()
	if b := batches(); b != 3 || len(l.holding) != 0 {
		t.Fatalf("%d commits for three records of one caller (held: %d), want 3", b, len(l.holding))
	}

	// Three busy callers: the first one's record is held until the two
	// others' join it, one commit for the three.
	dones := []func(){l.Busy(), l.Busy(), l.Busy()}
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			record()
			dones[i]()
		})
	}
	start(0)
	held()
	start(1)
	start(2)
	wg.Wait()
	if b := batches(); b != 4 {
		t.Errorf("%d commits after three busy callers' records, want 4 (one more)", b)
	}

	// Busy callers that finish without recording end the hold.
	a, b, c := l.Busy(), l.Busy(), l.Busy()
	wg.Go(func() {
		record()
		a()
	})
	held()
	b()
	c()
	wg.Wait()
	if got := batches(); got != 5 {
		t.Errorf("%d commits, want 5", got)
	}
}

// TestCommitDelayBacksOff: busy callers that do not come (their tools are
// slow) make holds end empty; after a few in a row the writer stops
// holding for a while, so the one caller that does record is not delayed
// every time.
func TestCommitDelayBacksOff(t *testing.T) {
	l := New(storetest.OpenSQLite(t), nil, &Options{CommitDelay: time.Second})
	defer l.Close()
	l.holding = make(chan struct{}, 1)
	ctx := context.Background()
	done := l.Busy()
	defer done()
	slow1, slow2 := l.Busy(), l.Busy() // never record
	defer slow1()
	defer slow2()
	for i := range emptyHoldsMax {
		if err := l.Record(ctx, Event{Type: Logout}); err != nil {
			t.Fatal(err)
		}
		if len(l.holding) != 1 {
			t.Fatalf("record %d was not held", i+1)
		}
		<-l.holding
	}
	// The holds ran out with nobody, emptyHoldsMax times: the next
	// records are not held (for holdBackoff × 1 s from now).
	for range 3 {
		if err := l.Record(ctx, Event{Type: Logout}); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.holding) != 0 {
		t.Error("held again right after empty holds")
	}
	if got, want := l.Stats(), (Stats{Records: emptyHoldsMax + 3, Batches: emptyHoldsMax + 3}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}
