package gateway_test

//lint:file-ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestFeatureRequestMessagesStayWithTheirCaller: while alice has a tool
// call running on the gateway's own upstream session (as a stdio upstream
// without per_caller always has; here an HTTP upstream whose callers' own
// sessions cannot open), bob reads a resource of the same upstream. What
// the upstream logs and asks while serving bob's read reaches bob, and
// bob answers it; alice sees none of it. Before, a resource, prompt or
// completion request was not known as bob's on the upstream, so the
// upstream's messages went to the one caller with a call running there.
func TestFeatureRequestMessagesStayWithTheirCaller(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "shared", Version: "1"}, nil)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	mcp.AddTool(up, &mcp.Tool{Name: "wait", Description: "Waits"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "hr_lookup", Description: "HR"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hr"}}}, nil, nil
		})
	var elicitAnswer atomic.Value
	up.AddResource(&mcp.Resource{URI: "file:///payroll.txt", Name: "payroll"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "payroll", Data: "bob's salary is 123456"})
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "bob: confirm payroll read",
			RequestedSchema: json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"}}}`)})
		if err == nil && res != nil {
			elicitAnswer.Store(res.Action)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "payroll"}}}, nil
	})
	// The first session (the gateway's own) is served; callers' own
	// sessions (lanes) are refused, so calls share the gateway's session.
	var refuseNew atomic.Bool
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server {
		if refuseNew.Load() {
			return nil
		}
		return up
	}, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "wait", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "hr_lookup", Upstream: "up", Roles: []string{"hr"}},
		},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()

	var mu sync.Mutex
	var aliceSaw []string
	alice := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			aliceSaw = append(aliceSaw, "log: "+r.Params.Data.(string))
		},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			defer mu.Unlock()
			aliceSaw = append(aliceSaw, "elicit: "+r.Params.Message)
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})
	if err := alice.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	var bobSaw []string
	bob := e.connectToken(e.token("bob", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			bobSaw = append(bobSaw, "log: "+r.Params.Data.(string))
		},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			defer mu.Unlock()
			bobSaw = append(bobSaw, "elicit: "+r.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	if err := bob.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "wait listed", func() bool { return slices.Contains(toolNames(t, alice), "wait") })
	waitFor(t, "bob's resources", func() bool {
		rl, err := bob.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})

	refuseNew.Store(true) // callers' own sessions cannot open from now on
	done := make(chan struct{})
	go func() {
		defer close(done)
		alice.CallTool(ctx, &mcp.CallToolParams{Name: "wait"})
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("alice's call never reached the upstream")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := bob.ReadResource(rctx, &mcp.ReadResourceParams{URI: "file:///payroll.txt"}); err != nil {
		t.Errorf("bob's read: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	close(release)
	<-done

	mu.Lock()
	defer mu.Unlock()
	if len(aliceSaw) > 0 {
		t.Errorf("alice received what the upstream sent while serving bob's resources/read: %q", aliceSaw)
	}
	if a, _ := elicitAnswer.Load().(string); a != "accept" {
		t.Errorf("bob's elicitation was answered %q, want bob's accept", a)
	}
	if want := []string{"log: bob's salary is 123456", "elicit: bob: confirm payroll read"}; !slices.Equal(bobSaw, want) {
		t.Errorf("bob received %q, want %q", bobSaw, want)
	}
}
