package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// featureWatcher is a session that counts the list_changed notifications
// it gets, by list.
type featureWatcher struct {
	name                     string
	cs                       *mcp.ClientSession
	tools, prompts, resource chan struct{}
	arrived                  [3]atomic.Int64 // all that came to each, taken or not
}

func (w *featureWatcher) received() (string, map[string]int) {
	return w.cs.ID(), map[string]int{
		"notifications/tools/list_changed":     int(w.arrived[0].Load()),
		"notifications/prompts/list_changed":   int(w.arrived[1].Load()),
		"notifications/resources/list_changed": int(w.arrived[2].Load()),
	}
}

func watchFeatures(e *env, sub string) *featureWatcher {
	w := &featureWatcher{name: sub, tools: make(chan struct{}, 100), prompts: make(chan struct{}, 100), resource: make(chan struct{}, 100)}
	w.cs = e.connectToken(e.token(sub, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { w.tools <- struct{}{}; w.arrived[0].Add(1) },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { w.prompts <- struct{}{}; w.arrived[1].Add(1) },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { w.resource <- struct{}{}; w.arrived[2].Add(1) },
	})
	return w
}

// drain empties the channels and reports how many of each came.
func (w *featureWatcher) drain() (tools, prompts, resources int) {
	n := func(c chan struct{}) int {
		k := 0
		for {
			select {
			case <-c:
				k++
			default:
				return k
			}
		}
	}
	return n(w.tools), n(w.prompts), n(w.resource)
}

func (w *featureWatcher) wait(t *testing.T, what string, c chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not told the %s list changed", w.name, what)
	}
}

// settle waits until all the notifications sent in the background have
// arrived, then checks that each watcher got exactly the ones wanted
// (tools, prompts, resources) beyond those already waited for.
func settle(t *testing.T, e *env, want map[*featureWatcher][3]int) {
	t.Helper()
	var ws []noticeWatcher
	for w := range want {
		ws = append(ws, w)
	}
	waitDelivered(t, e, ws...)
	for w, n := range want {
		if tl, p, r := w.drain(); [3]int{tl, p, r} != n {
			t.Errorf("%s got %d tools, %d prompts, %d resources list_changed more; want %v", w.name, tl, p, r, n)
		}
	}
}

// TestFeatureListChangedPerCaller: when an upstream's prompts or
// resources change, the sessions of callers who may call one of its tools
// are told their prompt (resource) list changed, and no one else; a caller
// who comes to see the upstream is told too.
func TestFeatureListChangedPerCaller(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "features", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	up.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Say hello"}}}}, nil
	})
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	}
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, read)
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()

	// The gateway announces both.
	alice := watchFeatures(e, "alice")
	caps := alice.cs.InitializeResult().Capabilities
	if caps.Prompts == nil || !caps.Prompts.ListChanged || caps.Resources == nil || !caps.Resources.ListChanged || !caps.Resources.Subscribe {
		t.Fatalf("capabilities: prompts %+v, resources %+v", caps.Prompts, caps.Resources)
	}
	dave := watchFeatures(e, "dave") // may call no tool of up
	waitFor(t, "alice's prompts", func() bool {
		pl, err := alice.cs.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	if pl, err := dave.cs.ListPrompts(ctx, nil); err != nil || len(pl.Prompts) != 0 {
		t.Fatalf("dave's prompts = %v, %v", pl, err)
	}
	// Whatever the connection of the upstream told alice so far: its
	// prompt is listed once pinned, and the reload that took the pin in
	// has handed alice's notices to the senders once another reload,
	// which waits for it, returns.
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, e, alice)
	alice.drain()
	settle(t, e, map[*featureWatcher][3]int{dave: {}})

	// A prompt added upstream: alice is told her prompts changed, and
	// nothing else; dave nothing.
	up.AddPrompt(&mcp.Prompt{Name: "farewell"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
	alice.wait(t, "prompt", alice.prompts)
	settle(t, e, map[*featureWatcher][3]int{alice: {}, dave: {}})
	if pl, err := alice.cs.ListPrompts(ctx, nil); err != nil || len(pl.Prompts) != 2 {
		t.Errorf("alice's prompts after the change = %v, %v", pl, err)
	}

	// A resource and a template added upstream: the resource lists.
	up.AddResource(&mcp.Resource{URI: "file:///more.txt", Name: "more"}, read)
	alice.wait(t, "resource", alice.resource)
	settle(t, e, map[*featureWatcher][3]int{alice: {}, dave: {}})
	up.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file:///day/{n}", Name: "day"}, read)
	alice.wait(t, "resource", alice.resource)
	settle(t, e, map[*featureWatcher][3]int{alice: {}, dave: {}})
	if rl, err := alice.cs.ListResources(ctx, nil); err != nil || len(rl.Resources) != 2 {
		t.Errorf("alice's resources after the change = %v, %v", rl, err)
	}

	// A prompt removed upstream.
	up.RemovePrompts("greet")
	alice.wait(t, "prompt", alice.prompts)
	settle(t, e, map[*featureWatcher][3]int{alice: {}, dave: {}})

	// dave comes to see the upstream's tool: he is told all three lists
	// changed; alice, whose lists did not, nothing.
	if err := e.st.Users().Update(ctx, "dave", func(u store.User) (store.User, error) {
		u.Roles = []string{"sales-manager"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	dave.wait(t, "tool", dave.tools)
	dave.wait(t, "prompt", dave.prompts)
	dave.wait(t, "resource", dave.resource)
	settle(t, e, map[*featureWatcher][3]int{alice: {}, dave: {}})
	if pl, err := dave.cs.ListPrompts(ctx, nil); err != nil || !slices.EqualFunc(pl.Prompts, []string{"farewell"}, func(p *mcp.Prompt, n string) bool { return p.Name == n }) {
		t.Errorf("dave's prompts = %v, %v", pl, err)
	}
}
