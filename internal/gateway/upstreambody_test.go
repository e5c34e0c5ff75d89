package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamAnswerBounded: an upstream that answers a call with more
// than the gateway takes (16 MiB), as one JSON body or as one event of a
// stream, fails that call with a clear error that names no secret of the
// upstream's; its session stays up and the next call goes through.
func TestUpstreamAnswerBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *mcp.StreamableHTTPOptions
	}{
		{"json", &mcp.StreamableHTTPOptions{JSONResponse: true}},
		{"events", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := mcp.NewServer(&mcp.Implementation{Name: "huge", Version: "1"}, nil)
			addEcho(up, "Echoes its text")
			mcp.AddTool(up, &mcp.Tool{Name: "huge", Description: "Answers 17 MiB"},
				func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 17<<20)}}}, nil, nil
				})
			us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, tc.opts))
			t.Cleanup(us.Close)
			const secret = "s3cret-upstream-key"
			e := newEnv(t, envOptions{
				tools: []store.Tool{
					{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}},
					{Name: "huge", Upstream: "up", Roles: []string{"sales-manager"}},
				},
				upstreams: []store.Upstream{{Name: "up", URL: us.URL + "/?key=" + secret}},
			})
			cs := e.connect("alice", "acme-assistant", "2025-11-25")
			waitFor(t, "the upstream's tools", func() bool { return slices.Equal(toolNames(t, cs), []string{"echo", "huge"}) })

			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "huge"})
			var got string
			switch {
			case err != nil:
				got = err.Error()
			case res.IsError:
				got = text(res)
			default:
				t.Fatalf("huge answered %d bytes, not an error", len(text(res)))
			}
			if !strings.Contains(got, "larger than") || strings.Contains(got, secret) {
				t.Errorf("huge failed with %q, want a clear error without the upstream's key", got)
			}
			for _, ev := range e.mem.all() {
				if s := fmt.Sprint(ev.Detail); strings.Contains(s, secret) {
					t.Errorf("audit %s: %s", ev.Type, s)
				}
			}

			if r := call(t, cs, "echo", map[string]any{"text": "still here"}); r.IsError || text(r) != "still here" {
				t.Errorf("echo after huge = %v %q", r.IsError, text(r))
			}
			for _, s := range e.gw.Upstreams() {
				if s.Restarts != 0 || !s.Connected {
					t.Errorf("upstream %s: connected %v after %d restarts (%s)", s.Name, s.Connected, s.Restarts, s.LastError)
				}
			}
		})
	}
}
