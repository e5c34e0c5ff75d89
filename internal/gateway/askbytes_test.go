package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAskedAtOnceBoundedInSize: an upstream that asks its caller many
// large questions at once during one call has them relayed only as far
// as they fit together in the gateway's bound; the rest are refused to
// the upstream with an error saying why, and the person is not asked
// them. Once the questions waiting are answered, more may be asked.
// Before, each could be as large as an upstream's message (16 MiB) and a
// hundred of them waited at once, for as long as the person took: over a
// gigabyte held for one call.
func TestAskedAtOnceBoundedInSize(t *testing.T) {
	defer gateway.SetMaxAskBytes(10_000)()
	up := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	question := strings.Repeat("Is this right? ", 270) // about 4 KB
	mcp.AddTool(up, &mcp.Tool{Name: "ask_three", Description: "Asks three questions at once, then one more"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				answered int
				refused  []string
			)
			for range 3 {
				wg.Go(func() {
					_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: question, RequestedSchema: schemaOK})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						refused = append(refused, err.Error())
					} else {
						answered++
					}
				})
			}
			wg.Wait()
			_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: question, RequestedSchema: schemaOK})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: fmt.Sprintf("answered %d; refused %q; then %v", answered, refused, err)}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "ask_three", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	var asked atomic.Int32
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			time.Sleep(300 * time.Millisecond) // the person takes a while: the questions wait together
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	waitFor(t, "the tool", func() bool { return len(toolNames(t, cs)) == 1 })
	res := call(t, cs, "ask_three", map[string]any{})
	got := text(res)
	if !strings.HasPrefix(got, "answered 2; refused [") || !strings.Contains(got, "too large") || !strings.HasSuffix(got, "then <nil>") {
		t.Errorf("the upstream saw %q, want two answered, one refused as too large, then one more answered", got)
	}
	if n := asked.Load(); n != 3 {
		t.Errorf("the person was asked %d questions, want 3", n)
	}
}

// TestAskedSizeCountsCharactersAsSent: a question is measured as it is
// sent, so one full of <, > and & (an HTML snippet the person is asked
// about) is not counted six times over and refused on its own. Before,
// it was measured with each of them escaped as \u003c.
func TestAskedSizeCountsCharactersAsSent(t *testing.T) {
	defer gateway.SetMaxAskBytes(10_000)()
	up := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "ask_markup", Description: "Asks about a snippet"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: strings.Repeat("<&>", 1000), RequestedSchema: schemaOK})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(err)}}}, nil, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "ask_markup", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	waitFor(t, "the tool", func() bool { return len(toolNames(t, cs)) == 1 })
	if got := text(call(t, cs, "ask_markup", map[string]any{})); got != "<nil>" {
		t.Errorf("a 3 KB question of markup: %q, want it asked", got)
	}
}
