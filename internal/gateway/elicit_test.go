package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// enumSchema holds every enum form of SEP-1330, among them the titled
// multi-select (items with anyOf) that the Go SDK's own checks refuse.
var enumSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"untitledSingle": map[string]any{"type": "string", "enum": []string{"option1", "option2"}},
		"titledSingle": map[string]any{"type": "string", "oneOf": []map[string]any{
			{"const": "value1", "title": "First"}, {"const": "value2", "title": "Second"}}},
		"legacyEnum": map[string]any{"type": "string", "enum": []string{"opt1", "opt2"}, "enumNames": []string{"One", "Two"}},
		"titledMulti": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{
			"type": "string", "anyOf": []map[string]any{{"const": "value1", "title": "First"}, {"const": "value2", "title": "Second"}}}},
	},
}

// TestElicitationRelayedFaithfully: an upstream's elicitation reaches the
// caller with its schema as the upstream sent it, even one the SDK's
// checks refuse, and the caller's answer reaches the upstream as given.
func TestElicitationRelayedFaithfully(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "ask", Description: "Asks the user to pick"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			// Sent as raw JSON, as a server in another language would, so
			// that the SDK server does not check the answer against it.
			raw, _ := json.Marshal(enumSchema)
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Pick", RequestedSchema: json.RawMessage(raw)})
			if err != nil {
				return nil, nil, err
			}
			content, _ := json.Marshal(res.Content)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s %s", res.Action, content)}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "ask", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})

	// The caller answers elicitation/create itself, before its own SDK's
	// checks, as a client in another language would.
	var mu sync.Mutex
	var got *mcp.ElicitParams
	answer := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "elicitation/create" {
				return next(ctx, method, req)
			}
			mu.Lock()
			got = req.(*mcp.ElicitRequest).Params
			mu.Unlock()
			// The upstream (a Go SDK server) checks an accepted answer
			// against its schema with the same rules, so decline: what is
			// tested is that the request and the answer cross the gateway.
			return &mcp.ElicitResult{Action: "decline"}, nil
		}
	}
	opts := &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return nil, fmt.Errorf("not reached")
	}}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, opts)
	client.AddReceivingMiddleware(answer)
	tr := &mcp.StreamableClientTransport{Endpoint: e.resource, HTTPClient: &http.Client{Transport: bearer{token: e.token("alice", "acme-assistant")}}}
	cs, err := client.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	waitFor(t, "ask listed", func() bool { return slices.Contains(toolNames(t, cs), "ask") })

	res := call(t, cs, "ask", map[string]any{})
	if res.IsError || text(res) != `decline null` {
		t.Fatalf("result %q (error %v), want the caller's answer", text(res), res.IsError)
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("the caller was not asked")
	}
	b, _ := json.Marshal(got.RequestedSchema)
	want, _ := json.Marshal(enumSchema)
	var gotV, wantV any
	json.Unmarshal(b, &gotV)
	json.Unmarshal(want, &wantV)
	if fmt.Sprint(gotV) != fmt.Sprint(wantV) || got.Message != "Pick" {
		t.Errorf("the caller got %s %q, want the upstream's schema %s", b, got.Message, want)
	}
}
