package gateway_test

//lint:file-ignore SA1019 logging is deprecated from protocol revision 2026-07-28 on; the revisions before it have it, and the gateway relays it.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

type whoIn struct {
	Who string `json:"who"`
}

// An upstream that goes on after its caller gave up must not reach anyone
// else: what it says late (a log message) is not relayed to the next
// caller, even when that caller's call is then the only one running.
func TestAbandonedCallRelaysToNoOne(t *testing.T) {
	released := make(chan struct{})
	carolIn := make(chan struct{})
	carolDone := make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "late", Version: "1"}, &mcp.ServerOptions{})
	mcp.AddTool(up, &mcp.Tool{Name: "late", Description: "Logs after its caller is gone"},
		func(ctx context.Context, req *mcp.CallToolRequest, in whoIn) (*mcp.CallToolResult, any, error) {
			if in.Who == "alice" {
				<-released // long after alice's call timed out
				req.Session.Log(context.Background(), &mcp.LoggingMessageParams{Level: "info", Data: "secret of alice"})
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "too late"}}}, nil, nil
			}
			close(carolIn)
			<-carolDone
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "for " + in.Who}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	t.Cleanup(func() {
		select {
		case <-released:
		default:
			close(released)
		}
	})
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "late", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	var mu sync.Mutex
	var carolLogs []string
	carol := e.connectToken(e.token("carol", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			mu.Lock()
			defer mu.Unlock()
			carolLogs = append(carolLogs, r.Params.Data.(string))
		},
	})
	ctx := context.Background()
	if err := carol.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tool", func() bool { return slices.Contains(toolNames(t, alice), "late") })

	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := alice.CallTool(actx, &mcp.CallToolParams{Name: "late", Arguments: map[string]any{"who": "alice"}})
	cancel()
	if err == nil {
		t.Fatal("alice's call returned before the upstream answered")
	}

	res := make(chan *mcp.CallToolResult, 1)
	go func() {
		r, err := carol.CallTool(ctx, &mcp.CallToolParams{Name: "late", Arguments: map[string]any{"who": "carol"}})
		if err != nil {
			t.Error(err)
		}
		res <- r
	}()
	<-carolIn // carol's call is running upstream
	close(released)
	time.Sleep(300 * time.Millisecond) // the late log message arrives, or not
	close(carolDone)
	if r := <-res; r == nil || text(r) != "for carol" {
		t.Fatalf("carol's call = %v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range carolLogs {
		if strings.Contains(l, "alice") {
			t.Errorf("carol received alice's upstream log: %q", l)
		}
	}
}
