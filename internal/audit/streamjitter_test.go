package audit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestStreamBackoffIsJittered: streams that fail at the same moment, as
// every stream to one receiver does when it goes down, must not retry it
// at the same moments from then on, all at once when it comes back. Each
// waits its backoff and up to a fifth more, at random: never less than
// the backoff, seldom the same wait. The log's clock stands still, so the
// stored times of the next try differ only by the wait each stream chose.
func TestStreamBackoffIsJittered(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		e := newEnv(t, open, &audit.Options{PollInterval: 10 * time.Millisecond})
		const n, backoff = 8, 10 * time.Second
		var sinks []audit.Sink
		for i := range n {
			wh, err := audit.NewWebhook(fmt.Sprintf("siem%d", i), srv.URL, []byte("webhook-test-secret"), nil)
			if err != nil {
				t.Fatal(err)
			}
			sinks = append(sinks, wh)
		}
		ss := e.log.Stream(sinks, &audit.StreamOptions{MinBackoff: backoff, FromStart: true})
		defer ss.Close()
		// Not e.record, which moves the clock on after the record: the
		// streams' failures may come before or after that move.
		if err := audit.RecordAll(context.Background(), e.log, events(1)...); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		now := e.clock.Now().UnixMilli()
		seen := map[int64]bool{}
		for _, sk := range sinks {
			var at int64
			waitFor(t, func() bool {
				at, _ = e.st.AuditCursor(ctx, sk.Name()+"#retry-at")
				return at > 0
			})
			if wait := time.Duration(at-now) * time.Millisecond; wait < backoff || wait > backoff+backoff/5 {
				t.Errorf("%s waits %v after its first failure, want %v to %v", sk.Name(), wait, backoff, backoff+backoff/5)
			}
			seen[at] = true
		}
		if len(seen) < 2 {
			t.Errorf("%d streams that failed together all retry at the same moment", n)
		}
	})
}
