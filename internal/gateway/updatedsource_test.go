package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestResourceUpdatedOnlyFromItsUpstream: a resources/updated notice goes
// to a subscriber only when the upstream that sent it is one the
// subscriber may use. alice may use docs, whose template file:///{path}
// lets her subscribe to file:///payroll.csv; hr, which bob may use, lists
// that URI and announces its changes: bob hears of them, alice does not.
// Before, alice heard of activity on an upstream she cannot see.
func TestResourceUpdatedOnlyFromItsUpstream(t *testing.T) {
	newUp := func(name string) *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
			SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		addEcho(s, "Echoes its text")
		return s
	}
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	docs, hr := newUp("docs"), newUp("hr")
	docs.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file:///{path}", Name: "file"}, read)
	hr.AddResource(&mcp.Resource{URI: "file:///payroll.csv", Name: "payroll"}, read)
	serve := func(s *mcp.Server) string {
		us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		t.Cleanup(us.Close)
		return us.URL
	}
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "docs_echo", Upstream: "docs", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
			{Name: "hr_echo", Upstream: "hr", UpstreamTool: "echo", Roles: []string{"hr"}},
		},
		upstreams: []store.Upstream{{Name: "docs", URL: serve(docs)}, {Name: "hr", URL: serve(hr)}},
	})
	ctx := context.Background()
	watch := func(sub string) (*mcp.ClientSession, *collected) {
		c := &collected{}
		cs := e.connectToken(e.token(sub, "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { c.add(r.Params.URI) },
		})
		return cs, c
	}
	alice, aliceGot := watch("alice")
	bob, bobGot := watch("bob")
	waitFor(t, "both upstreams' features", func() bool {
		at, err1 := alice.ListResourceTemplates(ctx, nil)
		br, err2 := bob.ListResources(ctx, nil)
		return err1 == nil && err2 == nil && len(at.ResourceTemplates) == 1 && len(br.Resources) == 1
	})
	for _, cs := range []*mcp.ClientSession{bob, alice} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///payroll.csv"}); err != nil {
			t.Fatal(err)
		}
	}
	notify := func(up *mcp.Server) {
		t.Helper()
		if err := up.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///payroll.csv"}); err != nil {
			t.Fatal(err)
		}
	}
	// The standalone streams open in the background: each upstream
	// announces until its own subscriber has heard.
	docsSent := 0
	waitFor(t, "alice hearing of docs' change", func() bool {
		notify(docs)
		docsSent++
		time.Sleep(20 * time.Millisecond)
		return len(aliceGot.all()) > 0
	})
	waitFor(t, "bob hearing of hr's change", func() bool {
		notify(hr)
		time.Sleep(20 * time.Millisecond)
		return len(bobGot.all()) > 0
	})
	// Five more, each heard before the next is sent: notices of one URI
	// that come while it is being passed on may reach a subscriber as
	// one.
	for i := range 5 {
		bobs := len(bobGot.all())
		notify(hr)
		waitFor(t, fmt.Sprintf("bob hearing of hr's change %d more", i+1), func() bool { return len(bobGot.all()) > bobs })
	}
	// A last notice of docs, after hr's on alice's stream: once it is
	// there, anything of hr's would be too.
	notify(docs)
	docsSent++
	waitFor(t, "alice hearing of docs' last change", func() bool { return len(aliceGot.all()) >= 2 })
	time.Sleep(50 * time.Millisecond)
	if got := len(aliceGot.all()); got > docsSent {
		t.Errorf("alice heard %d notices, and docs sent %d: she heard of hr's changes", got, docsSent)
	}
}
