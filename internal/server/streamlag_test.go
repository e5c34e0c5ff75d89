package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestAuditStreamLagInMetrics: /metrics says how far a stream whose
// receiver is down lags behind the trail, in records, as the admin API
// does: a scraper alerts on it without reading the admin API, and the
// cursor alone says nothing without the head.
func TestAuditStreamLagInMetrics(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: "webhook-signing-secret"}}
	s, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	for range 3 {
		if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	metric := func(body, name string) (int64, bool) {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return v, true
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, _ = get(t, metricsURL(base))
		if f, _ := metric(body, `gatehouse_audit_stream_failing{sink="webhook:default"}`); f == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	head, ok := metric(body, `gatehouse_audit_head`)
	if !ok {
		t.Fatalf("metrics miss gatehouse_audit_head")
	}
	cursor, _ := metric(body, `gatehouse_audit_stream_cursor{sink="webhook:default"}`)
	lag, ok := metric(body, `gatehouse_audit_stream_lag_records{sink="webhook:default"}`)
	if !ok {
		t.Fatalf("metrics miss the stream's lag")
	}
	if lag < 3 || lag != head-cursor {
		t.Errorf("lag %d with head %d and cursor %d: want head − cursor, at least the 3 records not delivered", lag, head, cursor)
	}
}

// TestAuditStreamLastSentInMetrics: /metrics says when this replica last
// delivered to a stream (Unix seconds), so that an alert can fire on a
// stream silent for too long, failing or not; a stream that has
// delivered nothing yet shows none.
func TestAuditStreamLastSentInMetrics(t *testing.T) {
	var up atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: "webhook-signing-secret"}}
	s, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	const name = `gatehouse_audit_stream_last_sent_timestamp_seconds{sink="webhook:default"}`
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
	scrape := func() (float64, bool) {
		_, body, _ := get(t, metricsURL(base))
		m := line.FindStringSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("%s %q", name, m[1])
		}
		return v, true
	}
	before := time.Now()
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body, _ := get(t, metricsURL(base))
		if regexp.MustCompile(`(?m)^gatehouse_audit_stream_failures_total\{sink="webhook:default"\} [1-9]`).MatchString(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never failed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v, ok := scrape(); ok {
		t.Fatalf("a stream that delivered nothing shows a last delivery at %v", v)
	}
	up.Store(true)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if v, ok := scrape(); ok {
			if at := time.Unix(0, int64(v*1e9)); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Fatalf("last delivery at %v, want between %v and now", at, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream's delivery never showed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
