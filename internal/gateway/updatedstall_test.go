package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// stallingToken is a revocation list that, once armed, answers nothing of
// the token jti until release closes (or the asking context ends): stalled
// closes when it first holds a question, ended when such a question
// returns.
type stallingToken struct {
	jti     string
	armed   *atomic.Bool
	release chan struct{}
	stalled chan struct{}
	ended   chan struct{}
	once    *sync.Once
	endOnce *sync.Once
}

func (r stallingToken) Revoked(ctx context.Context, _, jti string) (bool, error) {
	if jti != r.jti || !r.armed.Load() {
		return false, nil
	}
	r.once.Do(func() { close(r.stalled) })
	defer r.endOnce.Do(func() { close(r.ended) })
	select {
	case <-r.release:
	case <-ctx.Done():
	}
	return false, nil
}

// TestResourceUpdatedNotHeldByAnotherUpstream: a resources/updated notice
// of one upstream is not held back while another upstream's notice waits
// for its subscriber's check. alice may use docs and subscribed to its
// notes and drafts; bob may use hr and subscribed to its payroll and leave
// (the first of each to see their streams open, the second for the test
// alone). The store stops answering of alice's token, so docs' notice of
// the drafts waits on her check; meanwhile hr's notice of the leave
// reaches bob. Before, notices passed one at a time across all upstreams:
// bob heard only once alice's check gave up, 10 seconds later.
func TestResourceUpdatedNotHeldByAnotherUpstream(t *testing.T) {
	const (
		notes, drafts  = "file:///notes.txt", "file:///drafts.txt"
		payroll, leave = "file:///payroll.csv", "file:///leave.csv"
	)
	newUp := func(name string, uris ...string) (*mcp.Server, string) {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
			SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		addEcho(s, "Echoes its text")
		for _, uri := range uris {
			s.AddResource(&mcp.Resource{URI: uri, Name: uri}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
			})
		}
		us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		t.Cleanup(us.Close)
		return s, us.URL
	}
	docs, docsURL := newUp("docs", notes, drafts)
	hr, hrURL := newUp("hr", payroll, leave)
	stall := stallingToken{
		jti: "at-alice-stalls", armed: &atomic.Bool{}, release: make(chan struct{}),
		stalled: make(chan struct{}), ended: make(chan struct{}), once: &sync.Once{}, endOnce: &sync.Once{},
	}
	var released sync.Once
	free := func() { released.Do(func() { close(stall.release) }) }
	t.Cleanup(free)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "docs_echo", Upstream: "docs", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
			{Name: "hr_echo", Upstream: "hr", UpstreamTool: "echo", Roles: []string{"hr"}},
		},
		upstreams:   []store.Upstream{{Name: "docs", URL: docsURL}, {Name: "hr", URL: hrURL}},
		revocations: stall,
	})
	ctx := context.Background()
	notify := func(up *mcp.Server, uri string) {
		t.Helper()
		if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
			t.Fatal(err)
		}
	}
	watch := func(tok string, up *mcp.Server, uri, later string) *collected {
		c := &collected{}
		cs := e.connectToken(tok, "2025-11-25", &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { c.add(r.Params.URI) },
		})
		waitFor(t, uri+" listed", func() bool {
			rl, err := cs.ListResources(ctx, nil)
			return err == nil && len(rl.Resources) == 2
		})
		for _, u := range []string{uri, later} {
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: u}); err != nil {
				t.Fatal(err)
			}
		}
		// The standalone stream opens in the background: the upstream
		// announces until the subscriber has heard.
		waitFor(t, "a first notice of "+uri, func() bool {
			notify(up, uri)
			time.Sleep(20 * time.Millisecond)
			return len(c.all()) > 0
		})
		return c
	}
	aliceGot := watch(e.token("alice", "acme-assistant", func(c *accesstoken.Claims) { c.JTI = stall.jti }), docs, notes, drafts)
	bobGot := watch(e.token("bob", "acme-assistant"), hr, payroll, leave)

	// The store stops answering of alice's token: docs' notice of the
	// drafts waits on her check (behind any of the notes still passing),
	// until released.
	stall.armed.Store(true)
	notify(docs, drafts)
	select {
	case <-stall.stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the notice of docs never reached alice's check")
	}
	// hr's notice of the leave reaches bob meanwhile, while alice's
	// check is still held.
	notify(hr, leave)
	deadline := time.After(30 * time.Second)
	for !slices.Contains(bobGot.all(), leave) {
		select {
		case <-stall.ended:
			t.Fatal("bob heard nothing of hr's change while alice's check of docs' notice was held")
		case <-deadline:
			t.Fatal("bob never heard of hr's change")
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-stall.ended:
		t.Fatal("alice's check ended before the store was let answer")
	default:
	}
	// Once the store answers, alice hears of docs' change.
	free()
	waitFor(t, "alice hearing of docs' change", func() bool { return slices.Contains(aliceGot.all(), drafts) })
}
