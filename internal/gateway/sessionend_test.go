package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// hangingUpstream serves a tool, hang, that answers after 20 seconds or
// when its call is cancelled, telling started and cancelled.
func hangingUpstream(t *testing.T) (o envOptions, started, cancelled chan struct{}) {
	started, cancelled = make(chan struct{}, 64), make(chan struct{}, 64)
	up := mcp.NewServer(&mcp.Implementation{Name: "stuck", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "hang", Description: "Answers late"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			started <- struct{}{}
			select {
			case <-ctx.Done():
				cancelled <- struct{}{}
				return nil, nil, ctx.Err()
			case <-time.After(20 * time.Second):
				return &mcp.CallToolResult{}, nil, nil
			}
		})
	o = serveUpstream(t, up, "hang")
	o.upstreams[0].CallTimeout = time.Minute
	return o, started, cancelled
}

// TestDeleteEndsTheSessionsCalls: DELETE /mcp ends the session at once,
// its calls in flight with it (the upstream told to stop), rather than
// waiting, up to the call timeout, for them to finish for a client that
// said it is gone; and only the session's own caller can do so.
func TestDeleteEndsTheSessionsCalls(t *testing.T) {
	o, started, cancelled := hangingUpstream(t)
	e := newEnv(t, o)
	const version = "2025-11-25"
	tok := e.token("alice", "acme-assistant")
	alice := e.connectToken(tok, version, nil)
	waitFor(t, "hang listed", func() bool { return slices.Contains(toolNames(t, alice), "hang") })
	go alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "hang"})
	<-started

	del := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("DELETE", e.resource, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Mcp-Session-Id", alice.ID())
		req.Header.Set("Mcp-Protocol-Version", version)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Another person's DELETE is refused, and ends nothing.
	if s := del(e.token("carol", "acme-assistant")); s != http.StatusForbidden {
		t.Errorf("carol's DELETE of alice's session: %d", s)
	}
	select {
	case <-cancelled:
		t.Fatal("another person's DELETE cancelled alice's call")
	case <-time.After(300 * time.Millisecond):
	}

	start := time.Now()
	if s := del(tok); s != http.StatusNoContent {
		t.Fatalf("DELETE: %d", s)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("DELETE took %v: it waited for the session's call", took)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the upstream was never told the ended session's call was cancelled")
	}
}

// TestEvictionEndsTheSessionsCalls: the session closed for one too many
// of its caller's has its calls ended with it, and the request that
// opened the new session does not wait for them.
func TestEvictionEndsTheSessionsCalls(t *testing.T) {
	o, started, cancelled := hangingUpstream(t)
	e := newEnv(t, o)
	const version = "2025-11-25"
	tok := e.token("alice", "acme-assistant")
	first := e.connectToken(tok, version, nil)
	waitFor(t, "hang listed", func() bool { return slices.Contains(toolNames(t, first), "hang") })
	go first.CallTool(context.Background(), &mcp.CallToolParams{Name: "hang"})
	<-started
	for range gateway.MaxSessionsPerCaller - 1 {
		e.connectToken(tok, version, nil)
	}
	start := time.Now()
	e.connectToken(tok, version, nil) // one too many: first is closed
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the new session took %v to open: it waited for the evicted one's call", took)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the evicted session's call was never cancelled upstream")
	}
}
