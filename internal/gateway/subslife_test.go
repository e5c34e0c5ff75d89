package gateway_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// notesUpstream serves echo and the resource file:///notes.txt, with
// subscriptions, noting the URIs subscribed to and unsubscribed from.
func notesUpstream() (up *mcp.Server, subscribed, unsubscribed *collected) {
	subscribed, unsubscribed = &collected{}, &collected{}
	up = mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(_ context.Context, r *mcp.SubscribeRequest) error { subscribed.add(r.Params.URI); return nil },
		UnsubscribeHandler: func(_ context.Context, r *mcp.UnsubscribeRequest) error {
			unsubscribed.add(r.Params.URI)
			return nil
		},
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	})
	return up, subscribed, unsubscribed
}

// watchNotes opens a session of sub's that collects the resources/updated
// it hears, once its resources are listed.
func watchNotes(t *testing.T, e *env, sub string) (*mcp.ClientSession, *collected) {
	t.Helper()
	got := &collected{}
	cs := e.connectToken(e.token(sub, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { got.add(r.Params.URI) },
	})
	waitFor(t, sub+"'s resources", func() bool {
		rl, err := cs.ListResources(context.Background(), nil)
		return err == nil && len(rl.Resources) == 1
	})
	return cs, got
}

// TestSubscriptionsOutliveAnUpstreamReconnection: a caller subscribed to
// an upstream's resource still hears of its changes after the gateway
// connected to the upstream again (a restarted process, a lost session):
// the new session is subscribed to what the callers are. Before, the
// subscription stayed in the gateway and no notice ever came again.
func TestSubscriptionsOutliveAnUpstreamReconnection(t *testing.T) {
	up, _, _ := notesUpstream()
	addr, restart := restartableUpstream(t, up)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: "http://" + addr}}})
	ctx := context.Background()
	alice, got := watchNotes(t, e, "alice")
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	next, subscribed, _ := notesUpstream()
	restart(next)
	waitReconnected(t, e, "up")
	waitFor(t, "the new session subscribed", func() bool { return slices.Contains(subscribed.all(), "file:///notes.txt") })
	if err := next.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's update", func() bool { return len(got.all()) == 1 })
}

// TestSubscriptionReleasedUpstream: the upstream's subscription ends once
// no session is subscribed any more, by unsubscribing or by ending
// (DELETE), and not before. Before, the gateway unsubscribed from nothing:
// every URI anyone ever subscribed to stayed subscribed on the upstream,
// whose notices of it the gateway went on taking in, for no one.
func TestSubscriptionReleasedUpstream(t *testing.T) {
	up, subscribed, unsubscribed := notesUpstream()
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	alice, _ := watchNotes(t, e, "alice")
	carol, carolGot := watchNotes(t, e, "carol")
	for _, cs := range []*mcp.ClientSession{alice, carol} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(subscribed.all()); n == 0 {
		t.Fatal("the upstream got no subscription")
	}
	if err := alice.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	// Alice's unsubscription has had its turn once carol's subscription
	// is all that holds the URI.
	waitFor(t, "alice's unsubscription done", func() bool { return e.gw.SubHolds("up", "file:///notes.txt") == 1 })
	if got := unsubscribed.all(); len(got) != 0 {
		t.Fatalf("unsubscribed upstream while carol is subscribed: %q", got)
	}
	// carol still hears of it.
	if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "carol's update", func() bool { return len(carolGot.all()) == 1 })
	carol.Close() // DELETE
	waitFor(t, "the upstream's subscription ended", func() bool {
		return slices.Equal(unsubscribed.all(), []string{"file:///notes.txt"})
	})
}

// TestSubscriptionDuringReconnectionSentOnce: a caller subscribes while
// the gateway's new session with a restarted upstream is still being
// listed; the subscription goes through the new session, and is not sent
// again when the new session is subscribed to what the callers held
// before it: the upstream is asked once. Before, it was asked twice (the
// second time counted as another caller's in a test).
func TestSubscriptionDuringReconnectionSentOnce(t *testing.T) {
	up, _, _ := notesUpstream()
	addr, restart := restartableUpstream(t, up)
	var mu sync.Mutex
	var logs bytes.Buffer
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: "http://" + addr}},
		logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))})
	ctx := context.Background()
	alice, _ := watchNotes(t, e, "alice")
	next, subscribed, _ := notesUpstream()
	// The new session's resources are listed once alice has subscribed:
	// a window between the session being in place and its listing done.
	subscribedAlice := make(chan struct{})
	next.AddReceivingMiddleware(func(h mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "resources/list" {
				select {
				case <-subscribedAlice:
				case <-ctx.Done():
				}
			}
			return h(ctx, method, req)
		}
	})
	restart(next)
	waitReconnected(t, e, "up")
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	close(subscribedAlice)
	// Past the listing, and what follows it: the new session says it is
	// connected once its resources are listed, and a subscription sent
	// again for it holds the URI until the upstream answered.
	waitFor(t, "the new session connected", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(logs.String(), "gateway: upstream connected") == 2
	})
	waitFor(t, "no resubscription under way", func() bool { return e.gw.SubHolds("up", "file:///notes.txt") == 1 })
	if got := subscribed.all(); len(got) != 1 {
		t.Errorf("the restarted upstream was asked to subscribe %d times (%q), want once", len(got), got)
	}
}
