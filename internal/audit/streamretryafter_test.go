package audit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestStreamHonoursRetryAfter: a receiver that answers 429 or 503 with
// Retry-After is not tried again before it said (up to the stream's
// longest backoff); one that asks for less than the backoff still waits
// the backoff. Before, Retry-After was ignored: an overloaded collector
// asking for two minutes was tried again after a second.
func TestStreamHonoursRetryAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		for _, tc := range []struct {
			status     int
			retryAfter string
			min, max   time.Duration
		}{
			{http.StatusServiceUnavailable, "120", 120 * time.Second, 120 * time.Second},
			{http.StatusTooManyRequests, "30", 30 * time.Second, 30 * time.Second},
			{http.StatusTooManyRequests, "3600", 5 * time.Minute, 5 * time.Minute}, // the longest backoff bounds it
			{http.StatusServiceUnavailable, "0", time.Second, time.Second + time.Second/5},
			{http.StatusServiceUnavailable, "soon", time.Second, time.Second + time.Second/5},
		} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(tc.status)
			}))
			e := newEnv(t, open, &audit.Options{PollInterval: 10 * time.Millisecond})
			wh, err := audit.NewWebhook("siem", srv.URL, []byte("webhook-test-secret"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ss := e.log.Stream([]audit.Sink{wh}, &audit.StreamOptions{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, FromStart: true})
			// Not e.record, which moves the clock on after the record: the
			// stream's failure may come before or after that move.
			if err := audit.RecordAll(context.Background(), e.log, events(1)...); err != nil {
				t.Fatal(err)
			}
			now := e.clock.Now().UnixMilli()
			var at int64
			waitFor(t, func() bool {
				at, _ = e.st.AuditCursor(context.Background(), wh.Name()+"#retry-at")
				return at > 0
			})
			if wait := time.Duration(at-now) * time.Millisecond; wait < tc.min || wait > tc.max {
				t.Errorf("%d with Retry-After %q: waits %v, want %v to %v", tc.status, tc.retryAfter, wait, tc.min, tc.max)
			}
			ss.Close()
			srv.Close()
		}
	})
}
