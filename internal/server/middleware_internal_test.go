package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A request whose client went away before the answer is logged and counted
// as 499 at the information level, not as our 500; a 500 with the client
// still there stays an error.
func TestObserveClientGone(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := newHTTPMetrics(prometheus.NewRegistry())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "audit: not confirmed", http.StatusInternalServerError)
	})
	h := observe(log, m, mux)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "POST", "/token", nil))
	if n := testutil.ToFloat64(m.requests.WithLabelValues("POST /token", "499")); n != 1 {
		t.Errorf("499 counted %v times, want 1", n)
	}
	if got := buf.String(); !strings.Contains(got, "level=INFO") || !strings.Contains(got, "status=499") || strings.Contains(got, "level=ERROR") {
		t.Errorf("log: %s", got)
	}

	buf.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/token", nil))
	if n := testutil.ToFloat64(m.requests.WithLabelValues("POST /token", "500")); n != 1 {
		t.Errorf("500 counted %v times, want 1", n)
	}
	if got := buf.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "status=500") {
		t.Errorf("log: %s", got)
	}
}
