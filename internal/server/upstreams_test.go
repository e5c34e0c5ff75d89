package server_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
)

// An upstream that is up and one that cannot be reached show as such in
// /metrics: connected or not, restarts, tools, callers' sessions.
func TestUpstreamMetrics(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "live", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "ping", Description: "Answers"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close) // after the server's own cleanup, which closes its sessions
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()

	ctx := context.Background()
	dir := t.TempDir()
	st, err := server.OpenStore(ctx, server.StoreOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.Upstream{{Name: "live", URL: us.URL}, {Name: "dead", URL: "http://" + dead + "/mcp"}} {
		if err := st.Upstreams().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	_, base, cancel, done := start(t, server.Options{Store: server.StoreOptions{DataDir: dir}})
	defer func() { cancel(); <-done }()
	want := []string{
		`gatehouse_upstream_connected{upstream="live"} 1`,
		`gatehouse_upstream_tools{upstream="live"} 1`,
		`gatehouse_upstream_caller_sessions{upstream="live"} 0`,
		// ping offered on its own: it awaits an admin's approval.
		`gatehouse_upstream_withheld{upstream="live"} 1`,
		`gatehouse_upstream_connected{upstream="dead"} 0`,
		// The catalogue is current.
		"gatehouse_catalogue_lag_seconds 0\n",
	}
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body, _ = get(t, metricsURL(base))
		ok := !strings.Contains(body, `gatehouse_upstream_restarts_total{upstream="dead"} 0`)
		for _, w := range want {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			return
		}
	}
	for _, w := range append(want, `gatehouse_upstream_restarts_total{upstream="dead"}`) {
		if !strings.Contains(body, w) {
			t.Errorf("metrics miss %q", w)
		}
	}
	t.Errorf("the unreachable upstream's restarts stayed at 0 or a line is missing:\n%s", grepLines(body, "gatehouse_upstream_"))
}
