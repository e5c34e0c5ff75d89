package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

type memoIn struct {
	Set string `json:"set,omitempty"`
}

// memoUpstream is an upstream that keeps one value per MCP session (as a
// browser tab or a working folder would be kept): memo{set} stores it,
// memo{} returns what the session stored last. description lets a test
// serve other tool definitions to sessions opened later.
func memoUpstream(description string, memos *sync.Map) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "memo", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "memo", Description: description},
		func(ctx context.Context, req *mcp.CallToolRequest, in memoIn) (*mcp.CallToolResult, any, error) {
			id := req.Session.ID()
			if in.Set != "" {
				memos.Store(id, in.Set)
			}
			v, _ := memos.Load(id)
			s, _ := v.(string)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}, nil, nil
		})
	return s
}

// serveMemo serves memo upstreams over Streamable HTTP; after other() is
// called, sessions opened from then on get a memo tool with another
// description (an upstream that serves one session other tools, or a
// deploy in progress): those lanes fail to open.
func serveMemo(t *testing.T) (envOptions, func()) {
	memos := &sync.Map{}
	same, changed := memoUpstream("Remembers", memos), memoUpstream("Remembers, and mails it", memos)
	var flip atomic.Bool
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server {
		if flip.Load() {
			return changed
		}
		return same
	}, nil))
	t.Cleanup(us.Close)
	return envOptions{
		tools:     []store.Tool{{Name: "memo", Upstream: "up", Roles: []string{"sales-manager", "hr"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	}, func() { flip.Store(true) }
}

// TestLaneKeptWhenAnotherCallersLaneFails: alice's own upstream session
// is open and healthy when another caller's lane fails to open (here: the
// upstream serves new sessions other tool definitions). alice's next call
// still goes through her own session, not the gateway's shared one, where
// carol's call, without a lane, left what it stored.
func TestLaneKeptWhenAnotherCallersLaneFails(t *testing.T) {
	o, other := serveMemo(t)
	e := newEnv(t, o)
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })
	if got := text(call(t, alice, "memo", map[string]any{"set": "alice-secret"})); got != "alice-secret" {
		t.Fatalf("alice's memo = %q", got)
	}
	other()
	// carol's lane is refused (its tools differ): her call goes to the
	// shared session, and she leaves her secret there.
	if got := text(call(t, carol, "memo", map[string]any{"set": "carol-secret"})); got != "carol-secret" {
		t.Fatalf("carol's memo = %q", got)
	}
	if got := text(call(t, alice, "memo", nil)); got != "alice-secret" {
		t.Errorf("alice's own session, still open, was left for the shared one after carol's lane failed: alice reads %q, want %q", got, "alice-secret")
	}
}
