package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
)

// TestSubscriptionsPerSessionBounded: a session may be subscribed to so
// many URIs at once; past that a subscription is refused, on the record,
// with an answer that says what to do, and never reaches the upstream.
// Once the session unsubscribes from one it may take another, and the
// same URI again is no new one. Before, a template let a caller choose
// URIs without end, and each one subscribed to held memory in the
// gateway, the SDK and the upstream for as long as the session lasted.
func TestSubscriptionsPerSessionBounded(t *testing.T) {
	defer gateway.SetMaxSubscriptions(3)()
	e, alice, subscribed := daysEnv(t, 0)
	ctx := context.Background()
	day := func(n int) string { return fmt.Sprintf("file:///day/%d", n) }
	for n := range 3 {
		if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: day(n)}); err != nil {
			t.Fatalf("subscription %d: %v", n, err)
		}
	}
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: day(0)}); err != nil {
		t.Errorf("the same URI again: %v", err)
	}
	err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: day(3)})
	if err == nil || !strings.Contains(err.Error(), "unsubscribe from one first") {
		t.Fatalf("a fourth URI: %v, want it refused", err)
	}
	if slices.Contains(subscribed.all(), day(3)) {
		t.Error("the refused subscription reached the upstream")
	}
	var refused int
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureDecided && ev.Detail["method"] == "resources/subscribe" && ev.Decision == "deny" {
			refused++
			if ev.Policy != gateway.PolicySubscriptions || ev.Detail["uri"] != day(3) {
				t.Errorf("the refusal recorded as %s, %v", ev.Policy, ev.Detail)
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d refusals recorded, want 1", refused)
	}

	// Another session is not held by alice's.
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	if err := carol.Subscribe(ctx, &mcp.SubscribeParams{URI: day(3)}); err != nil {
		t.Errorf("carol's subscription: %v", err)
	}
	if err := alice.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: day(1)}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: day(3)}); err != nil {
		t.Errorf("a subscription after unsubscribing: %v", err)
	}
}

// TestSubscriptionsAtOnceBoundedBeforeTheUpstream: a session asking for
// many subscriptions at once has those past its bound refused before the
// upstream is asked, each recorded as the deny it is. Before, all of them
// passed the look at the session's subscriptions (none was noted yet),
// reached the upstream and were recorded as allowed, and those past the
// bound were then refused to the caller and undone, the trail saying
// otherwise.
func TestSubscriptionsAtOnceBoundedBeforeTheUpstream(t *testing.T) {
	defer gateway.SetMaxSubscriptions(3)()
	// The upstream takes a while: all of them are on their way at once.
	e, alice, subscribed := daysEnv(t, 200*time.Millisecond)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		refused atomic.Int32
	)
	for n := range 10 {
		wg.Go(func() {
			if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: fmt.Sprintf("file:///day/%d", n)}); err != nil {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if n := refused.Load(); n != 7 {
		t.Errorf("%d of 10 refused, want 7", n)
	}
	if got := subscribed.all(); len(got) != 3 {
		t.Errorf("the upstream was asked for %d subscriptions (%q), want 3", len(got), got)
	}
	decided := map[string]int{}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureDecided && ev.Detail["method"] == "resources/subscribe" {
			decided[ev.Decision+" "+ev.Policy]++
		}
	}
	if decided["deny "+gateway.PolicySubscriptions] != 7 || decided["allow "+gateway.PolicyUpstreamFeatures] != 3 {
		t.Errorf("the trail's decisions: %v, want 3 allowed and 7 denied as subscriptions-full", decided)
	}
}

// daysEnv is a gateway whose upstream serves the template file:///day/{n}
// and takes subscriptions, each after delay, noting the URIs subscribed
// to; and alice's session, once it lists the template.
func daysEnv(t *testing.T, delay time.Duration) (*env, *mcp.ClientSession, *collected) {
	subscribed := &collected{}
	up := mcp.NewServer(&mcp.Implementation{Name: "days", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(_ context.Context, r *mcp.SubscribeRequest) error {
			time.Sleep(delay)
			subscribed.add(r.Params.URI)
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(up, "Echoes its text")
	up.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file:///day/{n}", Name: "day"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "a day"}}}, nil
		})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's template", func() bool {
		tl, err := alice.ListResourceTemplates(context.Background(), nil)
		return err == nil && len(tl.ResourceTemplates) == 1
	})
	return e, alice, subscribed
}
