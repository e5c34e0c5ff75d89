package gateway_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamURLCredentialsNotLoggedWhenNormalized: the HTTP client's
// errors quote the upstream's URL as Go writes it back (a non-ASCII path
// percent-encoded, the scheme in lower case), not as the tenant wrote it.
// The key in its query must not reach the log or the upstream's status
// either way.
func TestUpstreamURLCredentialsNotLoggedWhenNormalized(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	for _, raw := range []string{
		"http://" + addr + "/mcp/caf\u00e9?api_key=QueryKey123&tenant=acme",
		"HTTP://" + addr + "/mcp?api_key=QueryKey123&tenant=acme",
	} {
		var mu sync.Mutex
		var logs bytes.Buffer
		h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil)
		e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
			upstreams: []store.Upstream{{Name: "up", URL: raw}}, logger: slog.New(h)})
		var status string
		waitFor(t, "the connection refused", func() bool {
			for _, s := range e.gw.Upstreams() {
				if s.Name == "up" && s.LastError != "" {
					status = s.LastError
					return true
				}
			}
			return false
		})
		mu.Lock()
		text := logs.String()
		mu.Unlock()
		for _, where := range []string{status, text} {
			if strings.Contains(where, "QueryKey123") {
				t.Errorf("%s: the URL's key in %q", raw, where)
			}
		}
		if !strings.Contains(status, "tenant=acme") {
			t.Errorf("%s: the reason lost its URL: %q", raw, status)
		}
	}
}
