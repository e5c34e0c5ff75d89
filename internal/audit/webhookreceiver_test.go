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
	"strings"
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

// TestWebhookRotationVerifiableFromTheReadme is a receiver written from the
// README's words on rolling the secret: with a previous secret configured,
// X-Gatehouse-Signature is a comma-separated list, each item "sha256=" and
// the hex HMAC under one of the secrets; a receiver accepts the delivery
// when any item, spaces trimmed, is the signature under a secret it holds.
// So a receiver that still holds only the old secret, one that already
// holds only the new, and one that holds both all take every delivery of
// the roll, and one that holds neither takes none. Without a previous
// secret the header is one signature, as before, which a receiver that
// compares the whole value still takes.
func TestWebhookRotationVerifiableFromTheReadme(t *testing.T) {
	oldSecret, newSecret := []byte("the secret being replaced"), []byte("the secret replacing it")
	sign := func(secret []byte, ts string, body []byte) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(ts + "."))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	accepts := func(known [][]byte, header, ts string, body []byte) bool {
		for _, item := range strings.Split(header, ",") {
			item = strings.TrimSpace(item)
			for _, s := range known {
				if hmac.Equal([]byte(item), []byte(sign(s, ts, body))) {
					return true
				}
			}
		}
		return false
	}
	type delivery struct {
		ts, sig string
		body    []byte
	}
	deliver := func(t *testing.T, opts *audit.WebhookOptions) delivery {
		got := make(chan delivery, 10)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			got <- delivery{r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature"), body}
		}))
		defer srv.Close()
		e := newEnv(t, storetestSQLite, nil)
		wh, err := audit.NewWebhook("roll", srv.URL, newSecret, opts)
		if err != nil {
			t.Fatal(err)
		}
		ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
		defer ss.Close()
		e.record(t, events(2)...)
		select {
		case d := <-got:
			return d
		case <-time.After(time.Minute):
			t.Fatal("no delivery in a minute")
		}
		return delivery{}
	}

	t.Run("new and previous", func(t *testing.T) {
		d := deliver(t, &audit.WebhookOptions{PreviousSecret: oldSecret})
		items := strings.Split(d.sig, ",")
		if len(items) != 2 {
			t.Fatalf("signature header %q: want two signatures", d.sig)
		}
		for name, known := range map[string][][]byte{
			"old only": {oldSecret}, "new only": {newSecret}, "both": {newSecret, oldSecret},
		} {
			if !accepts(known, d.sig, d.ts, d.body) {
				t.Errorf("a receiver holding the %s secret refuses %q", name, d.sig)
			}
			if !audit.VerifyWebhook(known[0], d.ts, d.sig, d.body) {
				t.Errorf("VerifyWebhook with the %s secret refuses %q", name, d.sig)
			}
		}
		other := []byte("a secret the sender never had")
		if accepts([][]byte{other}, d.sig, d.ts, d.body) || audit.VerifyWebhook(other, d.ts, d.sig, d.body) {
			t.Errorf("a receiver holding neither secret takes %q", d.sig)
		}
		if audit.VerifyWebhook(oldSecret, d.ts, d.sig, append(d.body, ' ')) {
			t.Error("VerifyWebhook takes a changed body")
		}
	})
	t.Run("new alone", func(t *testing.T) {
		d := deliver(t, nil)
		if d.sig != sign(newSecret, d.ts, d.body) {
			t.Errorf("signature header %q: want exactly %q, as before rotation existed", d.sig, sign(newSecret, d.ts, d.body))
		}
		if accepts([][]byte{oldSecret}, d.sig, d.ts, d.body) {
			t.Error("without a previous secret, the old one still verifies")
		}
	})
}
