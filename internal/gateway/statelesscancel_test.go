package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// TestStatelessCallerCancelsACall: on protocol revision 2026-07-28 a call
// is its POST, and a client cancels it by ending the request (its
// notifications/cancelled has no session to reach). Directly, against a
// server that ties its handlers to their requests
// (StreamableHTTPOptions.PropagateRequestCancellation), the handler is
// cancelled. Through the gateway the cancellation must reach the upstream
// too, and the caller's call slot must be free again.
func TestStatelessCallerCancelsACall(t *testing.T) {
	const version = "2026-07-28"
	started, cancelled := make(chan struct{}, 4), make(chan struct{}, 4)
	newUp := func() *mcp.Server {
		up := mcp.NewServer(&mcp.Implementation{Name: "blocker", Version: "1"}, nil)
		addEcho(up, "Echoes its text")
		mcp.AddTool(up, &mcp.Tool{Name: "block", Description: "Runs until cancelled"},
			func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				started <- struct{}{}
				select {
				case <-ctx.Done():
					cancelled <- struct{}{}
					return nil, nil, ctx.Err()
				case <-time.After(10 * time.Second):
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "not cancelled"}}}, nil, nil
				}
			})
		return up
	}
	cancelCall := func(t *testing.T, cs *mcp.ClientSession) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block", Arguments: map[string]any{}})
			errc <- err
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the call did not reach the upstream")
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("the cancelled call returned %v", err)
		}
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Error("the upstream's handler was not cancelled within 5s of the caller cancelling")
		}
	}

	t.Run("direct", func(t *testing.T) {
		up := newUp()
		us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up },
			&mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true}))
		t.Cleanup(us.Close)
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "direct", Version: "1"}, nil).Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: us.URL}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		cancelCall(t, cs)
	})
	t.Run("gateway", func(t *testing.T) {
		defer gateway.SetMaxCallsPerCaller(1)()
		e := newEnv(t, serveUpstream(t, newUp(), "echo", "block"))
		cs := e.connect("alice", "acme-assistant", version)
		waitFor(t, "block listed", func() bool { return slices.Contains(toolNames(t, cs), "block") })
		cancelCall(t, cs)
		// The caller's one slot is free again once its call was cancelled.
		var got string
		ok := func() bool {
			r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			got = "error: " + func() string {
				if err != nil {
					return err.Error()
				}
				return ""
			}()
			if err == nil {
				got = text(r)
			}
			return err == nil && !r.IsError && got == "hi"
		}
		deadline := time.Now().Add(3 * time.Second)
		for !ok() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if got != "hi" {
			t.Errorf("after cancelling its call, alice's next call = %q, want its slot free", got)
		}
	})
}
