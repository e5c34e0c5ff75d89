package gateway_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamLogLevelErrorNamesNoSecret: an upstream whose connection
// breaks while the gateway asks it for its log messages (logging/setLevel)
// has the failure logged, at debug, without its URL's credential: the HTTP
// client's error quotes the URL, query and all.
func TestUpstreamLogLevelErrorNamesNoSecret(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "lv", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	var broke sync.Once
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"logging/setLevel"`)) {
			did := false
			broke.Do(func() {
				did = true
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
			})
			if did {
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	const secret = "s3cret-upstream-key"
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL + "/?key=" + secret}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	waitFor(t, "the refused log level logged", func() bool { return strings.Contains(buf.String(), "upstream refused a log level") })
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, secret) {
			t.Errorf("the upstream's key in the log: %s", l)
		}
	}
}

// TestCallTransportErrorBoundedInLog: an upstream that answers a call
// with a new session ID, or a content type, of half a megabyte fails the
// call (the caller is told it may have run: the upstream had it), and the
// warning that says why is cut short: the SDK's error quotes the
// upstream's header whole, and it was written whole, a line of the
// upstream's size at every call.
func TestCallTransportErrorBoundedInLog(t *testing.T) {
	for _, header := range []string{"Mcp-Session-Id", "Content-Type"} {
		t.Run(header, func(t *testing.T) {
			up := mcp.NewServer(&mcp.Implementation{Name: "swap", Version: "1"}, nil)
			addEcho(up, "Echoes its text")
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
			huge := strings.Repeat("S", 512<<10)
			us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if bytes.Contains(body, []byte(`"tools/call"`)) {
					if header == "Content-Type" {
						w.Header().Set(header, "x/"+huge)
						w.WriteHeader(http.StatusOK)
						return
					}
					w.Header().Set(header, huge)
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(us.Close)
			buf := &lockedBuffer{mu: &sync.Mutex{}}
			e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, nil)),
				tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
				upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			if err != nil || !res.IsError || !strings.Contains(text(res), "may have run") || len(text(res)) > 1<<10 {
				t.Errorf("the call = %v, %v", res, err)
			}
			waitFor(t, "the failure logged", func() bool { return strings.Contains(buf.String(), "tool call failed") })
			for _, l := range strings.Split(buf.String(), "\n") {
				if len(l) > 8<<10 {
					t.Errorf("a log line of %d bytes: %.200s...", len(l), l)
				}
			}
		})
	}
}

// TestUnattributedUpstreamLogBounded: a log message an upstream sends
// while none of its calls runs goes to the gateway's own log, at debug;
// its data, as large as the upstream likes (up to an event's 16 MiB), is
// cut short there, as a stdio upstream's stderr line is.
func TestUnattributedUpstreamLogBounded(t *testing.T) {
	var mu sync.Mutex
	var sessions []*mcp.ServerSession
	up := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, &mcp.ServerOptions{
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) {
			mu.Lock()
			sessions = append(sessions, req.Session)
			mu.Unlock()
		},
	})
	addEcho(up, "Echoes its text")
	buf := &lockedBuffer{mu: &sync.Mutex{}}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: serveMCP(t, up)}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	mu.Lock()
	ss := slices.Clone(sessions)
	mu.Unlock()
	huge := strings.Repeat("L", 1<<20)
	for _, s := range ss {
		if err := s.Log(context.Background(), &mcp.LoggingMessageParams{Level: "error", Logger: strings.Repeat("n", 64<<10), Data: huge}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the upstream's log message logged", func() bool { return strings.Contains(buf.String(), "gateway: upstream log") })
	for _, l := range strings.Split(buf.String(), "\n") {
		if len(l) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s...", len(l), l)
		}
	}
}
