package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// try is one Send to a sink that is down: when, and by which replica.
type try struct {
	at      time.Time
	replica int
}

// downSink fails every Send and notes it in tries, shared by the replicas.
type downSink struct {
	replica int
	mu      *sync.Mutex
	tries   *[]try
}

func (d *downSink) Name() string { return "siem" }

func (d *downSink) Send(context.Context, []audit.Entry) error {
	d.mu.Lock()
	*d.tries = append(*d.tries, try{at: time.Now(), replica: d.replica})
	d.mu.Unlock()
	return errors.New("receiver down")
}

// twoReplicas returns two Logs on st, as two replicas on one database
// have, polling often; they are closed with the test.
func twoReplicas(t *testing.T, st *sqldb.DB) []*audit.Log {
	lo := func() *audit.Options {
		return &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1}
	}
	logs := []*audit.Log{audit.New(st, testKeys, lo()), audit.New(storetestSecondHandle(t, st), testKeys, lo())}
	for _, l := range logs {
		t.Cleanup(func() { l.Close() })
	}
	return logs
}

// TestStreamBackoffOutlastsLease: with two replicas on one store and a
// sink that stays down, the backoff keeps growing past the lease. The
// sender renews its claim while it waits, so the other replica does not
// take over a stream that is merely backing off (and start again at
// MinBackoff, retrying the sink far more often than the backoff means).
func TestStreamBackoffOutlastsLease(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		// The real clock: claims run out in real time, as backoffs do.
		logs := twoReplicas(t, open(t))
		const (
			minBackoff = 50 * time.Millisecond
			maxBackoff = 400 * time.Millisecond
			lease      = 150 * time.Millisecond // shorter than the backoff from the third failure on
		)
		opts := &audit.StreamOptions{MinBackoff: minBackoff, MaxBackoff: maxBackoff, Lease: lease, FromStart: true}
		var (
			mu    sync.Mutex
			tries []try
		)
		for i, l := range logs {
			ss := l.Stream([]audit.Sink{&downSink{replica: i, mu: &mu, tries: &tries}}, opts)
			defer ss.Close()
		}
		if err := logs[0].Record(context.Background(), events(1)[0]); err != nil {
			t.Fatal(err)
		}
		// Six tries: the last three after backoffs longer than the lease.
		const n = 6
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := len(tries)
			mu.Unlock()
			if got >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20s, %d tries of %d", got, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		backoff := minBackoff
		for i := 1; i < n; i++ {
			// A timer never fires early: each try comes at least the
			// backoff after the one before, whichever replica sends.
			if gap := tries[i].at.Sub(tries[i-1].at); gap < backoff {
				t.Errorf("try %d came %v after the one before (replica %d, then %d), before the backoff of %v", i+1, gap, tries[i-1].replica, tries[i].replica, backoff)
			}
			if tries[i].replica != tries[0].replica {
				t.Errorf("try %d by replica %d, the stream's sender was replica %d: it was taken over while it backed off", i+1, tries[i].replica, tries[0].replica)
			}
			backoff = min(2*backoff, maxBackoff)
		}
	})
}

// TestStreamBackoffGoesOnAfterTakeover: when the replica sending a stream
// to a sink that is down stops, the replica that takes the stream over
// goes on with its backoff (its next try no sooner than the stopped one's
// would have come, the wait after it doubled), instead of starting again
// at MinBackoff.
func TestStreamBackoffGoesOnAfterTakeover(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		logs := twoReplicas(t, open(t))
		const minBackoff = 50 * time.Millisecond
		opts := &audit.StreamOptions{MinBackoff: minBackoff, MaxBackoff: 4 * time.Second, Lease: time.Second, FromStart: true}
		var (
			mu    sync.Mutex
			tries []try
		)
		streams := make([]*audit.Streams, len(logs))
		for i, l := range logs {
			streams[i] = l.Stream([]audit.Sink{&downSink{replica: i, mu: &mu, tries: &tries}}, opts)
			defer streams[i].Close()
		}
		if err := logs[0].Record(context.Background(), events(1)[0]); err != nil {
			t.Fatal(err)
		}
		wait := func(n int) []try {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				got := append([]try(nil), tries...)
				mu.Unlock()
				if len(got) >= n {
					return got
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 20s, %d tries of %d", len(got), n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// Four tries by the sender: it now waits 8 × minBackoff.
		got := wait(4)
		sender := got[0].replica
		time.Sleep(minBackoff) // it has stored its backoff
		streams[sender].Close()
		got = wait(6)
		if got[4].replica == sender || got[5].replica == sender {
			t.Fatalf("tries after the sender stopped came from it: %+v", got)
		}
		if gap := got[4].at.Sub(got[3].at); gap < 8*minBackoff {
			t.Errorf("the new sender tried %v after the stopped one's last try, before its backoff of %v", gap, 8*minBackoff)
		}
		if gap := got[5].at.Sub(got[4].at); gap < 16*minBackoff {
			t.Errorf("the new sender's second try came %v after its first, before the doubled backoff of %v", gap, 16*minBackoff)
		}
	})
}

// flakySink fails its first n Sends, then takes everything.
type flakySink struct {
	mu sync.Mutex
	n  int
}

func (f *flakySink) Name() string { return "siem" }

func (f *flakySink) Send(context.Context, []audit.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return errors.New("receiver down")
	}
	return nil
}

// TestStreamBackoffClearedOnceSent: once the sink takes records again, the
// stored backoff is cleared, so that whoever sends the stream next does
// not wait for a failure that is over.
func TestStreamBackoffClearedOnceSent(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		st := open(t)
		l := audit.New(st, testKeys, &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1})
		defer l.Close()
		ss := l.Stream([]audit.Sink{&flakySink{n: 2}}, &audit.StreamOptions{MinBackoff: 20 * time.Millisecond, FromStart: true})
		defer ss.Close()
		ctx := context.Background()
		if err := l.Record(ctx, events(1)[0]); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			pos, _ := st.AuditCursor(ctx, "siem")
			b, _ := st.AuditCursor(ctx, "siem#backoff")
			at, _ := st.AuditCursor(ctx, "siem#retry-at")
			if pos >= 1 && b == 0 && at == 0 {
				return // delivered, and no backoff left behind
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: position %d, backoff %d ms, next try at %d", pos, b, at)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// countingSink takes everything and counts the entries it was sent.
type countingSink struct {
	mu   sync.Mutex
	sent int
}

func (c *countingSink) Name() string { return "siem" }

func (c *countingSink) Send(_ context.Context, es []audit.Entry) error {
	c.mu.Lock()
	c.sent += len(es)
	c.mu.Unlock()
	return nil
}

func (c *countingSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent
}

// TestStreamTakenOverFromAClockAhead: a replica whose clock ran an hour
// ahead claimed the stream (its claim ends an hour from now by the others'
// clocks) and stopped without giving it up. Another replica takes the
// stream over once that claim has gone a whole lease without renewal, by
// its own steady clock, instead of waiting out the hour with nothing
// sent.
func TestStreamTakenOverFromAClockAhead(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		st := open(t)
		const lease = 300 * time.Millisecond
		ahead := time.Now().Add(time.Hour)
		if _, _, _, err := st.ClaimAuditCursor(context.Background(), "siem", "replica-ahead", ahead, ahead.Add(lease), 0); err != nil {
			t.Fatal(err)
		}
		l := audit.New(st, testKeys, &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1})
		defer l.Close()
		sink := &countingSink{}
		// Before the stream starts: its first read of the claim may come
		// before this goroutine runs again, and the lease counts from it.
		start := time.Now()
		s := l.Stream([]audit.Sink{sink}, &audit.StreamOptions{Lease: lease, FromStart: true})
		defer s.Close()
		if err := l.Record(context.Background(), events(1)[0]); err != nil {
			t.Fatal(err)
		}
		for sink.count() == 0 {
			if time.Since(start) > 10*time.Second {
				t.Fatal("after 10 s the stream held by the stopped replica whose clock ran ahead sent nothing")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if took := time.Since(start); took < lease {
			t.Errorf("taken over after %v, before a whole lease (%v) without renewal", took, lease)
		}
	})
}
