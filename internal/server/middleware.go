package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clip"
)

type requestIDKey struct{}

// RequestIDFromContext returns the request's ID, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withBodyDeadline gives a client d to send a request's body: one that
// sends its headers and then trickles the body, or nothing, holds a
// connection and a handler no longer than that. A response may still
// take as long as it needs: net/http lifts the read deadline itself when
// the body has been read to its end (its read for a client that went
// away starts with none), which TestBodyDeadlineLiftedOnceBodyIsIn holds.
func withBodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// Not every writer has deadlines (HTTP/2 streams have their
			// own flow control); those go on without.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// withNoSniff tells browsers not to guess any answer's type
// (X-Content-Type-Options): a JSON or plain-text answer that echoes a
// request's value, read as HTML or script, would run in the issuer's
// origin. One place for every handler, the MCP SDK's and promhttp's too.
func withNoSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// withRequestID gives every request an ID (a well-formed incoming
// X-Request-Id is kept), in its context and in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDRe.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// ctxHandler adds the request ID of the record's context to every record.
type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFromContext(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}
func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{h.Handler.WithGroup(n)} }

// WithRequestIDs wraps a logger so its records carry the request ID.
func WithRequestIDs(l *slog.Logger) *slog.Logger { return slog.New(ctxHandler{l.Handler()}) }

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines (streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the underlying writer, for server-sent events.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// statusClientClosed is the status logged and counted for a request whose
// client went away before the answer.
const statusClientClosed = 499

// observe logs and measures every request. The route label is the mux
// pattern, never the raw path, so labels stay few and carry no user data.
func observe(log *slog.Logger, m *httpMetrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if aborted := serveRecovering(log, sw, r, next); aborted != nil {
			// Logged and counted first; then net/http cuts the
			// connection, quietly (http.ErrAbortHandler).
			defer panic(aborted)
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if sw.status >= 500 && errors.Is(r.Context().Err(), context.Canceled) {
			// The client closed the request before its answer (nginx's
			// 499): no answer reached anyone, and it is not our failure.
			sw.status = statusClientClosed
		}
		d := time.Since(start)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelDebug
		switch {
		case sw.status == statusClientClosed:
			level = slog.LevelInfo
		case sw.status >= 500:
			level = slog.LevelError
		}
		// The query string is left out: it can carry codes and tokens.
		log.Log(r.Context(), level, "http request", "method", r.Method, "path", loggedPath(r.URL.Path), "route", route,
			"status", sw.status, "bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000)
	})
}

// maxLoggedPath bounds the path an "http request" line shows: the client
// chooses it, up to the server's header limit (a megabyte).
const maxLoggedPath = 512

// loggedPath is p, or its first maxLoggedPath bytes (whole characters)
// and "…" (clip.String).
func loggedPath(p string) string {
	if len(p) <= maxLoggedPath {
		return p
	}
	short, _ := clip.String(p, maxLoggedPath)
	return short
}

// serveRecovering serves r with next and turns a panic into a logged error
// with its request ID and stack, and a 500 when nothing was answered yet
// (net/http would log it without the request's ID and cut the connection,
// leaving the client with no answer and the metrics with no count). It
// returns http.ErrAbortHandler for the caller to panic with once it has
// logged and counted the request: when a handler panics with it on purpose,
// and when a panic came after the answer had begun (the connection must be
// cut, or the client would take a truncated answer for a whole one).
func serveRecovering(log *slog.Logger, sw *statusWriter, r *http.Request, next http.Handler) (aborted any) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			aborted = v
			return
		}
		// The path, never the query string (it can carry codes and tokens).
		log.ErrorContext(r.Context(), "panic serving a request", "method", r.Method, "path", r.URL.Path,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if sw.status == 0 {
			http.Error(sw, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		sw.status = http.StatusInternalServerError // counted as what it was
		aborted = http.ErrAbortHandler
	}()
	next.ServeHTTP(sw, r)
	return nil
}
