package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// wireTap keeps the body of every response it carries, as the client
// read it.
type wireTap struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*bytes.Buffer
}

func (w *wireTap) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &lockedBuffer{mu: &w.mu}
	w.mu.Lock()
	w.bodies = append(w.bodies, &b.buf)
	w.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, b), resp.Body}
	return resp, nil
}

// responses returns the bodies read so far.
func (w *wireTap) responses() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][]byte
	for _, b := range w.bodies {
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCacheScopePrivate: the tool, prompt, resource and resource template
// lists differ per person, and so does what a resources/read may return:
// in every protocol revision they say cacheScope "private", so that no
// shared cache hands alice's answers to bob, never "" (which the protocol
// forbids, and which means public), nor an upstream's "public".
// server/discover, the same for every caller, stays public.
func TestCacheScopePrivate(t *testing.T) {
	upstream := featureUpstream(func(string) {})
	upstream.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file:///day/{n}", Name: "day"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "a day"}}}, nil
		})
	us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools: []store.Tool{
			{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}},
			{Name: "sales_report", Builtin: "sales_report", Roles: []string{"sales-manager"}},
		},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}},
	})
	ctx := context.Background()
	for _, v := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ""} {
		name := v
		if v == "" {
			name = "stateless"
		}
		t.Run(name, func(t *testing.T) {
			tap := &wireTap{base: http.DefaultTransport}
			var so *mcp.ClientSessionOptions
			if v != "" {
				so = &mcp.ClientSessionOptions{ProtocolVersion: v}
			}
			client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
			alice, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.resource,
				HTTPClient: &http.Client{Transport: bearer{token: e.token("alice", "acme-assistant"), base: tap}}}, so)
			if err != nil {
				t.Fatal(err)
			}
			defer alice.Close()
			waitFor(t, "the upstream's prompt", func() bool {
				pl, err := alice.ListPrompts(ctx, nil)
				return err == nil && len(pl.Prompts) == 1
			})

			scopes := map[string]string{}
			tl, err := alice.ListTools(ctx, nil)
			if err != nil || len(tl.Tools) != 2 {
				t.Fatalf("tools/list: %v %v", tl, err)
			}
			scopes["tools/list"] = tl.CacheScope
			pl, err := alice.ListPrompts(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			scopes["prompts/list"] = pl.CacheScope
			rl, err := alice.ListResources(ctx, nil)
			if err != nil || len(rl.Resources) != 1 {
				t.Fatalf("resources/list: %v %v", rl, err)
			}
			scopes["resources/list"] = rl.CacheScope
			rt, err := alice.ListResourceTemplates(ctx, nil)
			if err != nil || len(rt.ResourceTemplates) != 1 {
				t.Fatalf("resources/templates/list: %v %v", rt, err)
			}
			scopes["resources/templates/list"] = rt.CacheScope
			for _, uri := range []string{"file:///notes.txt", "file:///day/1"} {
				rr, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				if err != nil {
					t.Fatalf("resources/read %s: %v", uri, err)
				}
				scopes["resources/read "+uri] = rr.CacheScope
			}
			for method, scope := range scopes {
				if scope != "private" {
					t.Errorf("%s: cacheScope %q, want private", method, scope)
				}
			}

			// On the wire: no result says "" or public, but for
			// server/discover, which says public.
			discovered := false
			for _, b := range tap.responses() {
				if bytes.Contains(b, []byte(`"supportedVersions"`)) {
					discovered = true
					if !bytes.Contains(b, []byte(`"cacheScope":"public"`)) {
						t.Errorf("server/discover: %s", b)
					}
					continue
				}
				if bytes.Contains(b, []byte(`"cacheScope":""`)) || bytes.Contains(b, []byte(`"cacheScope":"public"`)) {
					t.Errorf("a response with cacheScope empty or public: %s", b)
				}
			}
			if discovered != (v == "") {
				t.Errorf("server/discover seen: %v", discovered)
			}
		})
	}
}
