package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestFeatureErrorNamesNoUpstreamURL: an upstream whose connection drops
// while it serves a prompt gets the caller told that the upstream could
// not serve the request, not the HTTP client's error, which quotes the
// upstream's URL (its internal address, and here a key in its query); the
// trail's record of the failure keeps the error without the key. Before,
// both carried the URL whole.
func TestFeatureErrorNamesNoUpstreamURL(t *testing.T) {
	up := featureUpstream(func(string) {})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"prompts/get"`)) {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close() // the connection drops mid-request
				}
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL + "/mcp?access_token=s3cr3t-upstream-key"}},
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && len(pl.Prompts) == 1
	})
	_, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Bob"}})
	if err == nil || !strings.Contains(err.Error(), "could not serve the request") ||
		strings.Contains(err.Error(), "s3cr3t-upstream-key") || strings.Contains(err.Error(), us.Listener.Addr().String()) {
		t.Errorf("the caller was told %v, want that the upstream could not serve the request, and no URL", err)
	}
	var result *audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureResult {
			result = &ev
		}
	}
	if result == nil || result.Status != "error" {
		t.Fatalf("the trail's record: %+v", result)
	}
	if msg, _ := result.Detail["error"].(string); msg == "" || strings.Contains(msg, "s3cr3t-upstream-key") {
		t.Errorf("the trail's record of the failure: %q", msg)
	}
}
