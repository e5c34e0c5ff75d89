package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// stormUpstream is a real MCP server (the SDK's, over Streamable HTTP)
// whose standalone event stream (the GET) the test writes instead:
// there it sends notifications as fast as it likes, which the SDK's server,
// debouncing its own, would not. It counts the gateway's listings, and
// holds each listing's answer while held is open.
type stormUpstream struct {
	srv    *mcp.Server
	url    string
	events chan string // written to the standalone stream

	mu      sync.Mutex
	lists   map[string]int // listings by method
	held    chan struct{}  // nil: answers go at once
	arrived chan string    // a listing's method, as it comes
}

func newStormUpstream(t *testing.T) *stormUpstream {
	u := &stormUpstream{
		srv:     mcp.NewServer(&mcp.Implementation{Name: "storm", Version: "1"}, nil),
		events:  make(chan string),
		lists:   map[string]int{},
		arrived: make(chan string, 1000),
	}
	addEcho(u.srv, "Echoes its text")
	u.srv.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	u.srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "tools/list" && method != "prompts/list" {
				return next(ctx, method, req)
			}
			// The answer as things are now, held back if the test says so.
			res, err := next(ctx, method, req)
			u.mu.Lock()
			u.lists[method]++
			held := u.held
			u.mu.Unlock()
			u.arrived <- method
			if held != nil {
				select {
				case <-held:
				case <-ctx.Done():
				}
			}
			return res, err
		}
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return u.srv }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			sdk.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-u.events:
				fmt.Fprintf(w, "data: %s\n\n", ev)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(hs.Close)
	u.url = hs.URL
	return u
}

func (u *stormUpstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lists[method]
}

// hold holds the answers of listings until the returned function is
// called.
func (u *stormUpstream) hold() (release func()) {
	held := make(chan struct{})
	u.mu.Lock()
	u.held = held
	u.mu.Unlock()
	return sync.OnceFunc(func() {
		u.mu.Lock()
		u.held = nil
		u.mu.Unlock()
		close(held)
	})
}

// await waits for the gateway to ask for method.
func (u *stormUpstream) await(t *testing.T, method string) {
	t.Helper()
	waitFor(t, "a "+method, func() bool {
		for {
			select {
			case m := <-u.arrived:
				if m == method {
					return true
				}
			default:
				return false
			}
		}
	})
}

const toolsChanged = `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`

// TestToolListChangedStormCoalesced: an upstream that says its tools
// changed 200 times while the gateway lists them makes the gateway list
// them once more, not 200 times; the catalogue ends with the upstream's
// last list, which only the listing after the storm could see.
func TestToolListChangedStormCoalesced(t *testing.T) {
	up := newStormUpstream(t)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo", Upstream: "storm", Roles: []string{"sales-manager"}},
			{Name: "later", Upstream: "storm", Roles: []string{"sales-manager"}},
		},
		upstreams: []store.Upstream{{Name: "storm", URL: up.url}},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Equal(toolNames(t, cs), []string{"echo"}) })
	up.await(t, "prompts/list") // connected: its tools and prompts listed
	before := up.count("tools/list")

	// The first notification starts a listing, which lists echo and is
	// held; then the tools change, and the storm comes while it is held.
	release := up.hold()
	defer release()
	up.events <- toolsChanged
	up.await(t, "tools/list")
	up.srv.RemoveTools("echo")
	mcp.AddTool(up.srv, &mcp.Tool{Name: "later", Description: "Came during the storm"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	for range 199 {
		up.events <- toolsChanged
	}
	// The gateway handles an upstream's notifications in order: once it
	// lists the prompts, it has handled every tools notification before.
	up.events <- `{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}`
	up.await(t, "prompts/list")
	release()

	waitFor(t, "the upstream's last tools", func() bool { return slices.Equal(toolNames(t, cs), []string{"later"}) })
	if n := up.count("tools/list") - before; n > 5 {
		t.Errorf("the gateway listed the upstream's tools %d times for 200 notifications, want at most 5", n)
	}
	if r := call(t, cs, "later", nil); r.IsError {
		t.Errorf("later = %q", text(r))
	}
}
