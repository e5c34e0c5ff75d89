package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// featureUpstream is an upstream with a tool, a prompt, a resource,
// completions and subscriptions; before answering a prompt, a resource or
// a completion it calls seen, so that a test can look at the trail as it
// was when the request reached the upstream.
func featureUpstream(seen func(method string)) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "feature-upstream", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			seen("completion/complete")
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{req.Params.Argument.Value + "b"}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { seen("resources/subscribe"); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addEcho(s, "Echoes its text")
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "name"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		seen("prompts/get")
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Say hello to " + req.Params.Arguments["name"]}}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		seen("resources/read")
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "secret notes"}}}, nil
	})
	return s
}

// TestUpstreamFeaturesAudited: prompts, resources, completions and
// subscriptions of an upstream are decided and recorded like tool calls:
// an allow is durable before the upstream sees the request and is followed
// by a result with the same correlation; a refusal is a deny; lists are
// recorded; no content reaches the trail.
func TestUpstreamFeaturesAudited(t *testing.T) {
	var e *env
	var mu sync.Mutex
	atUpstream := map[string][]audit.Event{} // method → the trail when the upstream got it
	upstream := featureUpstream(func(method string) {
		mu.Lock()
		defer mu.Unlock()
		atUpstream[method] = e.mem.all()
	})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	t.Cleanup(us.Close)
	e = newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})

	// What alice may use: a decision, then a result.
	gp, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Bob"}})
	if err != nil || len(gp.Messages) != 1 {
		t.Fatalf("alice's prompt: %v %v", gp, err)
	}
	if rr, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil || rr.Contents[0].Text != "secret notes" {
		t.Fatalf("alice's resource: %v %v", rr, err)
	}
	cr, err := alice.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
		Argument: mcp.CompleteParamsArgument{Name: "name", Value: "Bo"}})
	if err != nil || !slices.Equal(cr.Completion.Values, []string{"Bob"}) {
		t.Fatalf("alice's completion: %v %v", cr, err)
	}
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatalf("alice's subscription: %v", err)
	}

	// What dave may not use: a deny, and nothing reaches the upstream.
	dave := e.connect("dave", "acme-assistant", "2025-11-25")
	if _, err := dave.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"}); err == nil {
		t.Error("dave got the prompt")
	}
	if _, err := dave.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err == nil {
		t.Error("dave read the resource")
	}
	if cr, err := dave.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
		Argument: mcp.CompleteParamsArgument{Name: "name", Value: "Bo"}}); err != nil || len(cr.Completion.Values) != 0 {
		t.Errorf("dave's completion: %v %v", cr, err)
	}
	if err := dave.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err == nil {
		t.Error("dave subscribed")
	}
	if rl, err := dave.ListResources(ctx, nil); err != nil || len(rl.Resources) != 0 {
		t.Errorf("dave's resources: %v %v", rl, err)
	}

	events := e.mem.all()
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), "secret notes") || strings.Contains(string(raw), "Say hello") || strings.Contains(string(raw), `"Bo"`) {
		t.Errorf("content in the trail: %s", raw)
	}
	byMethod := func(actor, typ, method string) []audit.Event {
		var out []audit.Event
		for _, ev := range events {
			if ev.Actor == actor && ev.Type == typ && ev.Detail["method"] == method {
				out = append(out, ev)
			}
		}
		return out
	}
	for _, method := range []string{"prompts/get", "resources/read", "completion/complete", "resources/subscribe"} {
		ds, rs := byMethod("alice", audit.FeatureDecided, method), byMethod("alice", audit.FeatureResult, method)
		if len(ds) != 1 || len(rs) != 1 {
			t.Errorf("alice %s: %d decisions, %d results", method, len(ds), len(rs))
			continue
		}
		d, r := ds[0], rs[0]
		if d.Decision != "allow" || d.Policy != gateway.PolicyUpstreamFeatures || len(d.Reasons) == 0 || d.Detail["upstream"] != "up" ||
			d.Correlation == "" || r.Correlation != d.Correlation || r.Status != "ok" || r.Detail["upstream"] != "up" {
			t.Errorf("alice %s: decision %+v, result %+v", method, d, r)
		}
		for _, ev := range []audit.Event{d, r} {
			if ev.Agent != "acme-assistant" || ev.Session != "sid-alice" || !strings.HasPrefix(ev.TokenID, "at-alice-") {
				t.Errorf("alice %s: who %+v", method, ev)
			}
		}
		// The allow was recorded before the upstream got the request.
		mu.Lock()
		before := atUpstream[method]
		mu.Unlock()
		if !slices.ContainsFunc(before, func(ev audit.Event) bool { return ev.Correlation == d.Correlation && ev.Type == audit.FeatureDecided }) {
			t.Errorf("alice %s reached the upstream before its decision was recorded", method)
		}
		if slices.ContainsFunc(before, func(ev audit.Event) bool { return ev.Correlation == d.Correlation && ev.Type == audit.FeatureResult }) {
			t.Errorf("alice %s: result recorded before the upstream answered", method)
		}
	}
	if d := byMethod("alice", audit.FeatureDecided, "prompts/get"); len(d) == 1 && (d[0].Detail["prompt"] != "greet" || len(d[0].ArgsDigest) != 64) {
		t.Errorf("prompt decision %+v", d[0])
	}
	if d := byMethod("alice", audit.FeatureDecided, "resources/read"); len(d) == 1 && d[0].Detail["uri"] != "file:///notes.txt" {
		t.Errorf("resource decision %+v", d[0])
	}
	if d := byMethod("alice", audit.FeatureDecided, "completion/complete"); len(d) == 1 && (d[0].Detail["prompt"] != "greet" || d[0].Detail["argument"] != "name" || len(d[0].ArgsDigest) != 64) {
		t.Errorf("completion decision %+v", d[0])
	}
	for _, method := range []string{"prompts/get", "resources/read", "completion/complete", "resources/subscribe"} {
		ds := byMethod("dave", audit.FeatureDecided, method)
		if len(ds) != 1 || ds[0].Decision != "deny" || ds[0].Policy != gateway.PolicyUpstreamFeatures || len(ds[0].Reasons) == 0 {
			t.Errorf("dave %s: %+v", method, ds)
		}
		if rs := byMethod("dave", audit.FeatureResult, method); len(rs) != 0 {
			t.Errorf("dave %s: results %+v", method, rs)
		}
	}
	if l := byMethod("dave", audit.FeaturesListed, "resources/list"); len(l) != 1 || l[0].Detail["count"] != 0 || l[0].Status != "ok" {
		t.Errorf("dave's resource list: %+v", l)
	}
	if l := byMethod("alice", audit.FeaturesListed, "prompts/list"); len(l) == 0 || l[len(l)-1].Detail["count"] != 1 {
		t.Errorf("alice's prompt lists: %+v", l)
	}
}

// TestUpstreamFeaturesRealAudit: the decision and the result of a
// resource read land in the hash-chained trail, one correlation.
func TestUpstreamFeaturesRealAudit(t *testing.T) {
	upstream := featureUpstream(func(string) {})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{realAudit: true,
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's resource", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		return err == nil && len(rl.Resources) == 1
	})
	if _, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	l := e.audit.(*audit.Log)
	page, err := l.Query(ctx, audit.Filter{Actor: "alice", Types: []string{audit.FeatureDecided}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Event.Decision != "allow" {
		t.Fatalf("decisions in the trail: %+v", page.Entries)
	}
	res, err := l.Query(ctx, audit.Filter{Correlation: page.Entries[0].Event.Correlation})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range res.Entries {
		types = append(types, r.Event.Type)
	}
	if !slices.Equal(types, []string{audit.FeatureDecided, audit.FeatureResult}) {
		t.Errorf("the read's records: %v", types)
	}
}

// TestUpstreamFeaturesStateless: a caller on the stateless protocol
// revision (2026-07-28) gets an upstream's prompts, resources and
// completions, though the upstream speaks another revision to the
// gateway: the caller's _meta, which names its revision, stays with the
// gateway.
func TestUpstreamFeaturesStateless(t *testing.T) {
	upstream := featureUpstream(func(string) {})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "")
	if v := alice.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %s", v)
	}
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	if gp, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Bob"}}); err != nil || len(gp.Messages) != 1 {
		t.Errorf("prompts/get: %v %v", gp, err)
	}
	if rr, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != "secret notes" {
		t.Errorf("resources/read: %v %v", rr, err)
	}
	if cr, err := alice.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "greet"},
		Argument: mcp.CompleteParamsArgument{Name: "name", Value: "Bo"}}); err != nil || !slices.Equal(cr.Completion.Values, []string{"Bob"}) {
		t.Errorf("completion/complete: %v %v", cr, err)
	}
}
