package audit_test

import (
	"net/http"
	"strings"
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
