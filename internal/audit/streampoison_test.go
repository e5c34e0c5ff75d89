package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestStreamDeliversUpToARefusedRecord: a receiver that refuses a batch
// for one record in it (400: a record it cannot take, which sending it
// again will not change) gets the records before that one, in smaller
// batches, and the stream then waits at the refused record, failing and
// saying so. Before, the whole batch waited behind it: nothing written
// after the last delivery reached the receiver.
func TestStreamDeliversUpToARefusedRecord(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body audit.WebhookBody
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			for _, e := range body.Records {
				if e.Seq == 3 {
					http.Error(w, "record 3 does not fit our schema", http.StatusBadRequest)
					return
				}
			}
		}))
		defer srv.Close()
		e := newEnv(t, open, &audit.Options{PollInterval: 10 * time.Millisecond})
		if err := audit.RecordAll(context.Background(), e.log, events(5)...); err != nil {
			t.Fatal(err)
		}
		wh, err := audit.NewWebhook("siem", srv.URL, []byte("webhook-test-secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ss := e.log.Stream([]audit.Sink{wh}, &audit.StreamOptions{MinBackoff: time.Minute, FromStart: true})
		defer ss.Close()
		waitStuckAt(t, ss, 2)
	})
}
