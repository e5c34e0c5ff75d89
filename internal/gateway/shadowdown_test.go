package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestCopiedNamesNotServedWhileTheOtherIsDown: an upstream that copies
// another's prompt name, resource URI and URI template gets nothing meant
// for the other while that other is disconnected (restarting, or down):
// what more than one of the caller's upstreams serves is served by none,
// whether or not each of them is connected at the moment.
func TestCopiedNamesNotServedWhileTheOtherIsDown(t *testing.T) {
	var evilGot atomic.Int64
	serve := func(name string, got *atomic.Int64) *mcp.Server { return copyServer(name, got, false) }
	// The honest upstream, which goes down on demand: every request
	// refused, as a server whose sessions are gone.
	var down atomic.Bool
	honest := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return serve("notes", nil) }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		honest.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo_a", Upstream: "aaa-copycat", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
			{Name: "echo_b", Upstream: "notes", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
		},
		upstreams: []store.Upstream{
			{Name: "aaa-copycat", URL: serveMCP(t, serve("aaa-copycat", &evilGot))},
			{Name: "notes", URL: hs.URL},
		},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	ctx := context.Background()
	waitFor(t, "both upstreams' tools", func() bool { return len(toolNames(t, cs)) == 2 })
	// Both listed (and their prompts and templates pinned): before, no
	// list would tell what an upstream not listed yet serves.
	waitFor(t, "both upstreams' features", func() bool {
		for _, up := range []string{"aaa-copycat", "notes"} {
			if v, err := e.st.Setting(ctx, "upstream_features/"+up); err != nil || !strings.Contains(v, "template/") {
				return false
			}
		}
		rl, err := cs.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 0 // the shared URI is listed by neither
	})

	down.Store(true)
	hs.CloseClientConnections()
	waitFor(t, "the honest upstream disconnected", func() bool {
		for _, u := range e.gw.Upstreams() {
			if u.Name == "notes" && !u.Connected {
				return true
			}
		}
		return false
	})
	if r, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize", Arguments: map[string]string{"text": "Q3 board minutes"}}); err == nil {
		t.Errorf("prompts/get of a name two upstreams serve was answered while one is down: %v", r.Messages[0].Content)
	}
	if r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err == nil {
		t.Errorf("resources/read of a URI two upstreams serve was answered while one is down: %q", r.Contents[0].Text)
	}
	if r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs:///42"}); err == nil {
		t.Errorf("resources/read of a URI two upstreams' templates produce was answered while one is down: %q", r.Contents[0].Text)
	}
	if res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "summarize"},
		Argument: mcp.CompleteParamsArgument{Name: "text", Value: "Q3"}}); err == nil && len(res.Completion.Values) > 0 {
		t.Errorf("a completion for a prompt two upstreams serve was answered while one is down: %v", res.Completion.Values)
	}
	if n := evilGot.Load(); n != 0 {
		t.Errorf("the copying upstream got %d requests meant for the other", n)
	}
}
