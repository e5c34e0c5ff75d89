package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestListenOnTheStatelessRevision: a caller on the stateless protocol
// revision (2026-07-28) subscribes with subscriptions/listen, as the SDK's
// client does for Subscribe and for its list-changed handlers. Its
// resource subscription is decided as resources/subscribe is on the
// revisions with sessions: alice, who may use the upstream, hears of the
// resource's updates; dave, who may not, is refused. And a change of
// alice's tool list reaches her listen stream, not dave's.
func TestListenOnTheStatelessRevision(t *testing.T) {
	subscribed := make(chan struct{}, 4)
	upstream := featureUpstream(func(method string) {
		if method == "resources/subscribe" {
			subscribed <- struct{}{}
		}
	})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	type heard struct {
		updated     chan string
		listChanged chan struct{}
	}
	connect := func(who string) (*mcp.ClientSession, heard) {
		h := heard{updated: make(chan string, 8), listChanged: make(chan struct{}, 8)}
		cs := e.connectToken(e.token(who, "acme-assistant"), "", &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
				h.updated <- r.Params.URI
			},
			ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { h.listChanged <- struct{}{} },
		})
		if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
			t.Fatalf("%s negotiated %s", who, v)
		}
		return cs, h
	}
	alice, aliceHeard := connect("alice")
	dave, daveHeard := connect("dave")
	waitFor(t, "the upstream's resource", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})

	// alice's subscription reaches the upstream (Subscribe opens the
	// listen stream, which holds it).
	const uri = "file:///notes.txt"
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatalf("alice's subscription: %v", err)
	}
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("alice's subscription did not reach the upstream")
	}
	// dave's is refused: nothing of it reaches the upstream.
	_ = dave.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
	select {
	case <-subscribed:
		t.Error("dave's subscription reached the upstream")
	case <-time.After(300 * time.Millisecond):
	}

	// Both decisions are in the trail, the caller's address with them.
	decided := map[string]string{}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureDecided && ev.Detail["method"] == "resources/subscribe" {
			decided[ev.Actor] = ev.Decision
			if ev.RemoteAddr == "" {
				t.Errorf("%s's subscription recorded without the address", ev.Actor)
			}
		}
	}
	if decided["alice"] != "allow" || decided["dave"] != "deny" {
		t.Errorf("the subscriptions' decisions: %v", decided)
	}

	if err := upstream.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-aliceHeard.updated:
		if got != uri {
			t.Errorf("alice heard of %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("alice did not hear of the update")
	}

	views, listens := e.gw.Tracked()
	t.Logf("DEBUG before the change: %d views, %d listens", views, listens)
	// alice's role changes (echo leaves her list): her listen is told,
	// dave's not. What either heard before (echo arriving as the upstream
	// connected) is set aside first.
	for _, c := range []chan struct{}{aliceHeard.listChanged, daveHeard.listChanged} {
		for len(c) > 0 {
			<-c
		}
	}
	if err := e.st.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
		u.Roles = []string{"hr"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-aliceHeard.listChanged:
	case <-time.After(5 * time.Second):
		t.Error("alice's listen stream was not told her tool list changed")
	}
	select {
	case <-daveHeard.listChanged:
		t.Error("dave was told of alice's tool list")
	case <-daveHeard.updated:
		t.Error("dave heard of the resource")
	case <-time.After(300 * time.Millisecond):
	}

	// What the gateway keeps of a listen goes with it.
	if views, listens := e.gw.Tracked(); views == 0 || listens == 0 {
		t.Fatalf("while listening: %d views, %d listens tracked", views, listens)
	}
	alice.Close()
	dave.Close()
	waitFor(t, "the listens' views gone", func() bool {
		views, listens := e.gw.Tracked()
		return views == 0 && listens == 0
	})
}

// TestEndStreamsEndsListens: a server shutting down ends a stateless
// caller's subscriptions/listen (EndStreams), which would otherwise stay
// open as long as its client listens and hold the shutdown up.
func TestEndStreamsEndsListens(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.connectToken(e.token("alice", "acme-assistant"), "", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {},
	})
	waitFor(t, "alice's listen open", func() bool { _, listens := e.gw.Tracked(); return listens == 1 })
	e.gw.EndStreams()
	waitFor(t, "alice's listen ended", func() bool { _, listens := e.gw.Tracked(); return listens == 0 })
}
