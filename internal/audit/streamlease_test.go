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

// TestStreamBackoffOutlastsLease: with two replicas on one store and a
// sink that stays down, the backoff keeps growing past the lease. The
// sender renews its claim while it waits, so the other replica does not
// take over a stream that is merely backing off (and start again at
// MinBackoff, retrying the sink far more often than the backoff means).
func TestStreamBackoffOutlastsLease(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		st := open(t)
		// The real clock: claims run out in real time, as backoffs do.
		lo := func() *audit.Options {
			return &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1}
		}
		logs := []*audit.Log{audit.New(st, testKeys, lo()), audit.New(storetestSecondHandle(t, st), testKeys, lo())}
		for _, l := range logs {
			defer l.Close()
		}
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
