package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// Once the body is in, the read deadline is lifted: a handler may take
// longer than the body read timeout to answer without its request being
// cancelled (the server's read after the body would otherwise time out
// and cancel it).
func TestBodyDeadlineLiftedOnceBodyIsIn(t *testing.T) {
	const d = 100 * time.Millisecond
	srv := httptest.NewServer(withBodyDeadline(d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		select {
		case <-r.Context().Done():
			return // the answer never comes: the client sees an error
		case <-time.After(5 * d):
		}
		io.WriteString(w, "done")
	})))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("a body"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "done" {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}

// A handler that panics before answering gets the client a 500, the log
// an error with the request's ID (through the logger's context handler)
// and the path, never the query, and the metrics a 500. One that panics
// after the answer began has its connection cut (http.ErrAbortHandler),
// so the client cannot take a truncated answer for a whole one; a
// handler's own http.ErrAbortHandler is passed on as it is.
func TestObservePanics(t *testing.T) {
	var buf bytes.Buffer
	log := WithRequestIDs(slog.New(slog.NewTextHandler(&buf, nil)))
	m := newHTTPMetrics(prometheus.NewRegistry())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /early", func(http.ResponseWriter, *http.Request) { panic("nil map") })
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("half an answer"))
		panic("nil map")
	})
	mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	h := withRequestID(observe(log, m, mux))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/early?code=secret-code", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("early panic answered %d", rec.Code)
	}
	got := buf.String()
	if !strings.Contains(got, "panic serving a request") || !strings.Contains(got, "request_id=") || !strings.Contains(got, "path=/early") ||
		strings.Contains(got, "secret-code") {
		t.Errorf("log: %s", got)
	}
	for _, path := range []string{"/late", "/abort"} {
		func() {
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Errorf("%s: panicked with %v, want http.ErrAbortHandler", path, v)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		}()
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("GET /early", "500")); n != 1 {
		t.Errorf("early: 500 counted %v times", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("GET /late", "500")); n != 1 {
		t.Errorf("late: 500 counted %v times", n)
	}
}

// TestObserveBoundsThePath: a request's path is the client's to choose, up
// to the server's header limit; its "http request" line shows the first
// maxLoggedPath bytes of it.
func TestObserveBoundsThePath(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := observe(log, newHTTPMetrics(prometheus.NewRegistry()), http.NewServeMux())
	path := "/" + strings.Repeat("é", 50_000)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	line := buf.String()
	if !strings.Contains(line, "http request") || !strings.Contains(line, "route=unmatched") {
		t.Fatalf("log: %.300s", line)
	}
	if len(line) > maxLoggedPath+300 {
		t.Errorf("a %d-byte path made a %d-byte log line", len(path), len(line))
	}
	if !strings.Contains(line, "path=/"+strings.Repeat("é", 100)) || !strings.Contains(line, "…") {
		t.Errorf("the path's start and the mark of its cut are not in the line: %.300s", line)
	}
}
