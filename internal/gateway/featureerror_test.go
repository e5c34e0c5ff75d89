package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestFeatureErrorNamesNoUpstreamURL: an upstream whose connection drops
// while it serves a prompt gets the caller told that the upstream could
// not serve the request, not the HTTP client's error, which quotes the
// upstream's URL (its internal address, and here a key in its query); the
// trail's record of the failure keeps the error without the key. Before,
// both carried the URL whole.
func TestFeatureErrorNamesNoUpstreamURL(t *testing.T) {
	up := featureUpstream(func(string) {})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"prompts/get"`)) {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close() // the connection drops mid-request
				}
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL + "/mcp?access_token=s3cr3t-upstream-key"}},
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	_, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Bob"}})
	if err == nil || !strings.Contains(err.Error(), "could not serve the request") ||
		strings.Contains(err.Error(), "s3cr3t-upstream-key") || strings.Contains(err.Error(), us.Listener.Addr().String()) {
		t.Errorf("the caller was told %v, want that the upstream could not serve the request, and no URL", err)
	}
	var result *audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureResult {
			result = &ev
		}
	}
	if result == nil || result.Status != "error" {
		t.Fatalf("the trail's record: %+v", result)
	}
	if msg, _ := result.Detail["error"].(string); msg == "" || strings.Contains(msg, "s3cr3t-upstream-key") {
		t.Errorf("the trail's record of the failure: %q", msg)
	}
}

// TestFeatureErrorQuotesNoArguments: an upstream's error for a prompt or a
// completion that quotes what the caller sent (a prompt's argument, the
// value to complete) reaches the trail with those values masked, as a
// tool call's error does: the trail keeps them only as a digest. Before,
// the feature.result record carried them whole.
func TestFeatureErrorQuotesNoArguments(t *testing.T) {
	const card = "4111111111111111"
	unknown := func(number string) error {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown card %q", number)}
	}
	up := mcp.NewServer(&mcp.Implementation{Name: "cards", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return nil, unknown(req.Params.Argument.Value)
		},
	})
	addEcho(up, "Echoes its text")
	up.AddPrompt(&mcp.Prompt{Name: "card", Arguments: []*mcp.PromptArgument{{Name: "number"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return nil, unknown(req.Params.Arguments["number"])
	})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	if _, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "card", Arguments: map[string]string{"number": card}}); err == nil {
		t.Error("the prompt did not fail")
	}
	if _, err := alice.Complete(ctx, &mcp.CompleteParams{
		Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "card"},
		Argument: mcp.CompleteParamsArgument{Name: "number", Value: card},
	}); err == nil {
		t.Error("the completion did not fail")
	}
	results := map[string]string{}
	for _, ev := range e.mem.all() {
		if s := fmt.Sprintf("%+v", ev); strings.Contains(s, card) {
			t.Errorf("the trail holds a value the caller sent: %s", s)
		}
		if ev.Type == audit.FeatureResult {
			msg, _ := ev.Detail["error"].(string)
			results[ev.Detail["method"].(string)] = msg
		}
	}
	for _, method := range []string{"prompts/get", "completion/complete"} {
		if got := results[method]; got != `unknown card "[argument]"` {
			t.Errorf("the trail's record of the %s error: %q", method, got)
		}
	}
}
