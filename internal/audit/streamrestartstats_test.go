package audit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestStreamStatsWhileWaitingOutAStoredBackoff: a stream whose webhook
// delivered three records and then went down is restarted (the next start
// of the process). It goes on with the stored backoff before it tries
// again; while it waits, its counters say where it stands: the position
// the stream delivered through (lag = head − cursor), not 0, which would
// show the whole trail as lag, and why it is failing.
func TestStreamStatsWhileWaitingOutAStoredBackoff(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		var down atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		wh, err := audit.NewWebhook("siem", srv.URL, []byte("webhook-test-secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st := open(t)
		l := audit.New(st, testKeys, &audit.Options{PollInterval: 10 * time.Millisecond, CheckpointInterval: -1})
		defer l.Close()
		ctx := context.Background()
		opts := &audit.StreamOptions{MinBackoff: 30 * time.Second, FromStart: true}
		ss := l.Stream([]audit.Sink{wh}, opts)
		for _, ev := range events(3) {
			if err := l.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, func() bool { return ss.Stats()[0].Cursor == 3 })
		down.Store(true)
		if err := l.Record(ctx, events(1)[0]); err != nil {
			t.Fatal(err)
		}
		// Failed once: a backoff of 30 s is stored.
		waitFor(t, func() bool {
			at, _ := st.AuditCursor(ctx, wh.Name()+"#retry-at")
			return ss.Stats()[0].Failures == 1 && at > 0
		})
		ss.Close()

		again := l.Stream([]audit.Sink{wh}, opts)
		defer again.Close()
		waitFor(t, func() bool { return again.Stats()[0].Active })
		time.Sleep(100 * time.Millisecond) // several polls into the wait
		s := again.Stats()[0]
		if s.Cursor != 3 {
			t.Errorf("cursor %d while the restarted stream waits out its backoff, want 3 (delivered through)", s.Cursor)
		}
		if !s.Failing || s.LastError == "" {
			t.Errorf("failing %v, last error %q: the stream waits for a failed delivery and says nothing of it", s.Failing, s.LastError)
		}
	})
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
