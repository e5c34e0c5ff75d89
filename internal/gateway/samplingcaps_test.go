package gateway_test

//lint:file-ignore SA1019 sampling is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSamplingOnlyToACallerThatTakesIt: a caller that did not declare
// sampling is never sent an upstream's sampling request (MCP forbids
// it, and a client that ignores an unknown request would leave the call
// hanging to its bound): the upstream is refused at once with an error.
func TestSamplingOnlyToACallerThatTakesIt(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "sampler", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "summarize", Description: "Asks the caller's model for a summary"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			_, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize"}}}})
			if err != nil {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "refused: " + err.Error()}}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sampled"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "summarize"))
	var mu sync.Mutex
	var methods []string
	client := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			mu.Lock()
			methods = append(methods, method)
			mu.Unlock()
			return next(ctx, method, req)
		}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
	c.AddReceivingMiddleware(client)
	tr := &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: &http.Client{Transport: bearer{token: e.token("alice", "acme-assistant")}}}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	waitFor(t, "summarize listed", func() bool { return slices.Contains(toolNames(t, cs), "summarize") })
	if got := text(call(t, cs, "summarize", nil)); !strings.HasPrefix(got, "refused: ") {
		t.Errorf("%q, want the upstream refused", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(methods, "sampling/createMessage") {
		t.Errorf("the caller, which declared no sampling, was sent sampling/createMessage")
	}
}
