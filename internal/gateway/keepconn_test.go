package gateway_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAnsweredCallsKeepTheirConnection: an upstream that ends a call's
// event stream a moment after its answer (as any may, on a busy machine)
// still serves the gateway's calls on the connection it has, one after
// another: the call's end does not cut the stream's drain short and
// throw the connection away.
func TestAnsweredCallsKeepTheirConnection(t *testing.T) {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return newTestUpstream("Echoes its text") }, nil)
	us := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method == http.MethodPost {
			// The answer is written and flushed; the stream's end
			// (the chunked body's last chunk) follows later.
			time.Sleep(50 * time.Millisecond)
		}
	}))
	var conns atomic.Int64
	us.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	us.Start()
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, cs), "echo") })

	call(t, cs, "echo", map[string]any{"text": "first"})
	time.Sleep(200 * time.Millisecond) // the first stream has ended
	before := conns.Load()
	const n = 5
	for i := range n {
		if res := call(t, cs, "echo", map[string]any{"text": "again"}); res.IsError || text(res) != "again" {
			t.Fatalf("call %d: %+v", i, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if opened := conns.Load() - before; opened > 0 {
		t.Errorf("%d calls, each after the last one's stream ended, opened %d new connections to the upstream; want none", n, opened)
	}
}
