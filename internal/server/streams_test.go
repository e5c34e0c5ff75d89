package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/server"
)

// TestAuditWebhookFailureShowsInMetrics: a sink that fails is retried, its
// failures are visible in /metrics, and nothing is lost once it recovers.
func TestAuditWebhookFailureShowsInMetrics(t *testing.T) {
	var calls, delivered atomic.Int64
	secret := "webhook-signing-secret"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
			return
		}
		delivered.Add(1)
	}))
	defer hook.Close()
	o := server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: hook.URL, WebhookSecret: secret}}
	s, base, cancel, done := start(t, o)
	defer func() { cancel(); <-done }()
	if err := s.Audit.Record(context.Background(), audit.Event{Type: audit.AdminChange, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for delivered.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if delivered.Load() == 0 {
		t.Fatal("the webhook never received the record after recovering")
	}
	_, body, _ := get(t, base+"/metrics")
	for _, want := range []string{
		`gatehouse_audit_stream_failures_total{sink="webhook:default"} 1`,
		`gatehouse_audit_records_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics miss %q", want)
		}
	}
	if strings.Contains(body, secret) {
		t.Errorf("the webhook secret is in /metrics")
	}
}

func TestAuditWebhookNeedsSecret(t *testing.T) {
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = server.New(context.Background(), server.Options{Store: server.StoreOptions{DataDir: t.TempDir()},
		Streams: server.StreamOptions{Webhook: "http://127.0.0.1:1/hook"}}, ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_AUDIT_WEBHOOK_SECRET") {
		t.Errorf("webhook without secret: %v", err)
	}
}
