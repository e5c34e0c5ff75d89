package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamGivingUpAQuestionClosesIt: an upstream that stops waiting
// for its elicitation (it cancels the request) has the question taken
// back from its caller too: the caller's handler sees its request
// cancelled, and does not go on showing the person a form nobody reads
// any more. Before, the caller's request stayed open until the call
// ended.
func TestUpstreamGivingUpAQuestionClosesIt(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	released := make(chan struct{})
	mcp.AddTool(up, &mcp.Tool{Name: "ask_briefly", Description: "Asks, and gives up after a moment"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			_, err := req.Session.Elicit(actx, &mcp.ElicitParams{Message: "Quick?", RequestedSchema: schemaOK})
			if err == nil {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "answered"}}}, nil, nil
			}
			// The call goes on after its question was given up: the
			// caller's question must end with the question, not the call.
			select {
			case <-released:
			case <-time.After(5 * time.Second):
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "gave up"}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "ask_briefly", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	closed := make(chan time.Duration, 1)
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, _ *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			start := time.Now()
			select {
			case <-ctx.Done():
				closed <- time.Since(start)
			case <-time.After(4 * time.Second):
				closed <- -1
			}
			close(released)
			return nil, errors.New("no answer")
		},
	})
	waitFor(t, "the tool", func() bool { return len(toolNames(t, cs)) == 1 })
	res := call(t, cs, "ask_briefly", map[string]any{})
	if got := text(res); got != "gave up" {
		t.Errorf("the call answered %q", got)
	}
	if d := <-closed; d < 0 {
		t.Error("the caller's question stayed open after the upstream gave it up")
	}
}
