package audit_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestWebhookVerifiableFromTheReadme is a receiver written from the
// README's words alone (no code of the package's): the signature is
// "sha256=" and the hex HMAC-SHA256 under the secret of the timestamp
// header, ".", and the raw body; the timestamp is the delivery's Unix time
// in seconds; the body is {"records": [...]} with each record's seq. It
// checks that the timestamp and the seqs are inside what is signed (a
// replayed delivery is told by its old timestamp, a reordered or repeated
// one by its seqs), and that a retried delivery is signed anew with its
// own time.
func TestWebhookVerifiableFromTheReadme(t *testing.T) {
	secret := []byte("readme signing secret")
	type delivery struct {
		ts, sig, id string
		body        []byte
	}
	got := make(chan delivery, 10)
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature"), r.Header.Get("X-Gatehouse-Delivery"), body}
		if calls++; calls == 1 {
			http.Error(w, "later", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	e := newEnv(t, storetestSQLite, nil)
	// The delivery's clock: a minute on between the two tries.
	clk := newClock()
	wh, err := audit.NewWebhook("readme", srv.URL, secret, &audit.WebhookOptions{Now: func() time.Time {
		n := clk.Now()
		clk.Advance(time.Minute)
		return n
	}})
	if err != nil {
		t.Fatal(err)
	}
	ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
	defer ss.Close()
	e.record(t, events(3)...)

	sign := func(ts string, body []byte) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(ts + "."))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	var tries []delivery
	for len(tries) < 2 {
		select {
		case d := <-got:
			tries = append(tries, d)
		case <-time.After(time.Minute):
			t.Fatalf("%d deliveries in a minute", len(tries))
		}
	}
	for i, d := range tries {
		if !hmac.Equal([]byte(d.sig), []byte(sign(d.ts, d.body))) {
			t.Errorf("try %d: the signature %q is not the README's", i+1, d.sig)
		}
		sec, err := strconv.ParseInt(d.ts, 10, 64)
		if err != nil || time.Unix(sec, 0).Sub(newClock().Now()).Abs() > 2*time.Minute {
			t.Errorf("try %d: timestamp %q is not the delivery's Unix time in seconds", i+1, d.ts)
		}
		var wb struct {
			Records []struct {
				Seq int64 `json:"seq"`
			} `json:"records"`
		}
		if err := json.Unmarshal(d.body, &wb); err != nil || len(wb.Records) == 0 {
			t.Fatalf("try %d body: %v %s", i+1, err, d.body)
		}
		if want := fmt.Sprintf("%d-%d", wb.Records[0].Seq, wb.Records[len(wb.Records)-1].Seq); d.id != want {
			t.Errorf("try %d: delivery %q, want %q", i+1, d.id, want)
		}
	}
	if tries[0].ts == tries[1].ts || tries[0].sig == tries[1].sig {
		t.Errorf("a retried delivery carries its first try's time: %q, %q", tries[0].ts, tries[1].ts)
	}
}
