package gateway_test

import (
	"bytes"
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
