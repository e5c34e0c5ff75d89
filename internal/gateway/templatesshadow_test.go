package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSharedURITemplateNotListed: a URI template that two of a caller's
// upstreams serve is listed by neither, as a shared prompt name or
// resource URI is not: its reads go to neither (owner), so listing it
// offers the caller a template that cannot be used, twice, one of them
// an upstream's copy of the other's. A template only one serves is
// listed.
func TestSharedURITemplateNotListed(t *testing.T) {
	serve := func(name string, own bool) *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
		addEcho(s, "Echoes its text")
		read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: name}}}, nil
		}
		s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "docs:///{id}", Name: "doc of " + name}, read)
		if own {
			s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "own:///{id}", Name: "own"}, read)
		}
		return s
	}
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo_a", Upstream: "aaa-copycat", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
			{Name: "echo_b", Upstream: "notes", UpstreamTool: "echo", Roles: []string{"sales-manager"}},
		},
		upstreams: []store.Upstream{
			{Name: "aaa-copycat", URL: serveMCP(t, serve("aaa-copycat", false))},
			{Name: "notes", URL: serveMCP(t, serve("notes", true))},
		},
	})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	ctx := context.Background()
	waitFor(t, "both upstreams' tools", func() bool { return len(toolNames(t, cs)) == 2 })
	// Each upstream's templates are listed after its tools, on its own:
	// until the copying one's are, nothing tells that it serves the
	// other's template too. Its pins are written once they are listed.
	waitFor(t, "both upstreams' templates", func() bool {
		for _, up := range []string{"aaa-copycat", "notes"} {
			if v, err := e.st.Setting(ctx, "upstream_features/"+up); err != nil || !strings.Contains(v, "template/") {
				return false
			}
		}
		return true
	})
	var got []string
	waitFor(t, "the honest upstream's own template", func() bool {
		tl, err := cs.ListResourceTemplates(ctx, nil)
		if err != nil {
			return false
		}
		got = got[:0]
		for _, r := range tl.ResourceTemplates {
			got = append(got, r.URITemplate)
		}
		return slices.Contains(got, "own:///{id}")
	})
	if slices.Contains(got, "docs:///{id}") {
		t.Errorf("a URI template two upstreams serve is listed: %q", got)
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "docs:///42"}); err == nil {
		t.Error("resources/read of a URI two upstreams' templates produce was answered")
	}
}
