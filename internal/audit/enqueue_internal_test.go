package audit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// flakyStore fails the next failNext appends, and can hold the first one
// until released (that one never fails).
type flakyStore struct {
	store.AuditStore
	failNext atomic.Int32
	appends  atomic.Int32

	gate    bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

var errFlaky = errors.New("store unavailable")

func (f *flakyStore) AppendAudit(ctx context.Context, build func(store.AuditHead) ([]store.AuditRecord, error)) (store.AuditHead, error) {
	if f.gate {
		gated := false
		f.once.Do(func() { gated = true })
		if gated {
			// A commit in progress: its records are built, it has not
			// returned yet.
			return f.AuditStore.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
				recs, err := build(h)
				close(f.entered)
				<-f.release
				return recs, err
			})
		}
	}
	f.appends.Add(1)
	if f.failNext.Load() > 0 {
		f.failNext.Add(-1)
		return store.AuditHead{}, errFlaky
	}
	return f.AuditStore.AppendAudit(ctx, build)
}

// types lists the stored records' event types in seq order.
func types(t *testing.T, st store.AuditStore) []string {
	t.Helper()
	recs, err := st.AuditRecords(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEnqueueOrdering: enqueued records land before what is recorded after
// them, and RecordAll appends its events together, in order, in one
// transaction even past MaxBatch.
func TestEnqueueOrdering(t *testing.T) {
	st := storetest.OpenSQLite(t)
	l := New(st, nil, &Options{MaxBatch: 2})
	defer l.Close()
	ctx := context.Background()
	for _, typ := range []string{"e1", "e2", "e3"} {
		if err := l.Enqueue(ctx, Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RecordAll(ctx, Event{Type: "a1"}, Event{Type: "a2"}, Event{Type: "a3"}); err != nil {
		t.Fatal(err)
	}
	// When RecordAll returns, every record enqueued before it is durable.
	if got, want := types(t, st), []string{"e1", "e2", "e3", "a1", "a2", "a3"}; !equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	// RecordAll's events go in one transaction, even past MaxBatch.
	before := l.Stats().Batches
	if err := l.RecordAll(ctx, Event{Type: "b1"}, Event{Type: "b2"}, Event{Type: "b3"}); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Batches - before; got != 1 {
		t.Errorf("RecordAll of 3 with MaxBatch 2 took %d commits, want 1", got)
	}
	if rep, err := l.Verify(ctx, nil); err != nil || !rep.OK || rep.Records != 9 {
		t.Errorf("Verify: %v %+v", err, rep)
	}
}

// TestEnqueueSurvivesFailedCommit: a commit that fails reports its error
// to its waiters but keeps its enqueued records, which the next commit
// appends ahead of what came after them; so a later Record that succeeds
// always finds them in the trail.
func TestEnqueueSurvivesFailedCommit(t *testing.T) {
	f := &flakyStore{AuditStore: storetest.OpenSQLite(t), gate: true, entered: make(chan struct{}), release: make(chan struct{})}
	l := New(f, nil, nil)
	defer l.Close()
	ctx := context.Background()

	// A first commit in progress, so that the next records queue up into
	// one batch behind it.
	first := make(chan error, 1)
	go func() { first <- l.Record(ctx, Event{Type: "first"}) }()
	<-f.entered
	if err := l.Enqueue(ctx, Event{Type: "redeemed"}); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- l.Record(ctx, Event{Type: "doomed"}) }()
	for len(l.in) < 2 {
		runtime.Gosched()
	}
	f.failNext.Store(1) // the batch {redeemed, doomed}
	close(f.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, errFlaky) {
		t.Fatalf("the waiter of the failed commit got %v, want %v", err, errFlaky)
	}
	if err := l.Record(ctx, Event{Type: "result"}); err != nil {
		t.Fatal(err)
	}
	if got, want := types(t, f.AuditStore), []string{"first", "redeemed", "result"}; !equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	if s := l.Stats(); s.Failed != 1 || s.Records != 3 {
		t.Errorf("stats %+v, want 3 records and 1 failed (the waited one)", s)
	}
}

// TestEnqueueGivenUpAtClose: records the store keeps refusing are retried
// a few times after Close, then counted as failed; Close does not hang.
func TestEnqueueGivenUpAtClose(t *testing.T) {
	f := &flakyStore{AuditStore: storetest.OpenSQLite(t)}
	f.failNext.Store(1 << 20)
	l := New(f, nil, nil)
	if err := l.Enqueue(context.Background(), Event{Type: "lost"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Failed != 1 || s.Records != 0 {
		t.Errorf("stats %+v, want 1 failed", s)
	}
	if n := f.appends.Load(); n < closeRetries {
		t.Errorf("%d attempts, want at least %d", n, closeRetries)
	}
	if err := l.Enqueue(context.Background(), Event{Type: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
}
