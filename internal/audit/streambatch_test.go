package audit_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookLargeBatchRefusedIsSplit: a receiver that refuses a body over
// its size limit (413, as collectors with a request limit answer) takes a
// smaller one. A batch it refuses is sent again in smaller parts rather
// than whole for ever: the stream would otherwise stop at that batch, with
// every later record and (with a retention) the trail's pruning held up.
func TestWebhookLargeBatchRefusedIsSplit(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	h, srv := newHook(t, 0)
	const limit = 64 << 10
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.ServeHTTP(w, r)
	})
	wh, err := audit.NewWebhook("siem", srv.URL, h.secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
	defer ss.Close()
	// Ten records of about 20 KiB: any three of them are over the limit.
	evs := events(10)
	for i := range evs {
		evs[i].Detail = map[string]any{"note": strings.Repeat("x", 20<<10)}
	}
	e.record(t, evs...)
	var got []int64
	deadline := time.After(10 * time.Second)
	for len(got) < 10 {
		select {
		case s := <-h.got:
			if len(got) == 0 || s > got[len(got)-1] {
				got = append(got, s)
			}
		case <-deadline:
			t.Fatalf("delivered %v of 10 records; stats %+v", got, ss.Stats()[0])
		}
	}
}

// TestWebhookSlowBatchIsSplit: a receiver (or a link) too slow to take a
// large batch within the client's timeout takes a smaller one. A batch
// whose delivery times out is sent again in smaller parts rather than
// whole for ever, as a 413 is: the stream would otherwise stop at it.
// What timed out is not taken here, so a lost record would show.
func TestWebhookSlowBatchIsSplit(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	h, srv := newHook(t, 0)
	const most = 3 // records the receiver takes in time
	var slow atomic.Int64
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var wb audit.WebhookBody
		if err := json.Unmarshal(body, &wb); err != nil {
			t.Errorf("body: %v", err)
			return
		}
		if len(wb.Records) > most {
			slow.Add(1)
			// Past the client's timeout; the client gives up first.
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
	wh, err := audit.NewWebhook("siem", srv.URL, h.secret,
		&audit.WebhookOptions{Client: &http.Client{Timeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// Written before the stream starts (from the start): its first batch
	// holds all ten.
	e.record(t, events(10)...)
	ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
	defer ss.Close()
	seen := map[int64]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 10 {
		select {
		case s := <-h.got:
			seen[s] = true
		case <-deadline:
			t.Fatalf("delivered %d of 10 records; stats %+v", len(seen), ss.Stats()[0])
		}
	}
	// The stream moves on: what is written later is delivered too.
	e.record(t, events(5)...)
	for len(seen) < 15 {
		select {
		case s := <-h.got:
			seen[s] = true
		case <-deadline:
			t.Fatalf("delivered %d of 15 records; stats %+v", len(seen), ss.Stats()[0])
		}
	}
	for s := int64(1); s <= 15; s++ {
		if !seen[s] {
			t.Errorf("record %d not delivered", s)
		}
	}
	if st := ss.Stats()[0]; slow.Load() == 0 || st.Failures == 0 {
		t.Errorf("no batch timed out (slow %d); stats %+v", slow.Load(), st)
	}
}
