package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// A Streamable HTTP upstream that wants credentials gets the gateway's own,
// from the environment the tenant names; never the caller's token.
func TestUpstreamHTTPCredentials(t *testing.T) {
	t.Setenv("GH_TEST_UPSTREAM_AUTH", "Bearer the-gateways-own")
	usURL, seenAuth := guardedUpstream(t, newTestUpstream("Echoes its text"), "Bearer the-gateways-own")
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager")[:4], upstreams: []store.Upstream{{
		Name: "up", URL: usURL, HeadersEnv: map[string]string{"Authorization": "GH_TEST_UPSTREAM_AUTH"}}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's tools", func() bool { return slices.Contains(toolNames(t, cs), "echo") })
	if r := call(t, cs, "echo", map[string]any{"text": "hi"}); r.IsError || text(r) != "hi" {
		t.Fatalf("echo = %v %q", r.IsError, text(r))
	}
	seen := seenAuth()
	for _, a := range seen {
		if a != "Bearer the-gateways-own" {
			t.Errorf("the upstream got Authorization %q", a)
		}
	}
	if len(seen) == 0 {
		t.Error("the upstream saw no request")
	}
}

// An upstream whose credential variable is not set is not connected, and
// its status names the header (never the variable, never a value); its
// tools are not listed.
func TestUpstreamHTTPCredentialsMissing(t *testing.T) {
	usURL, hits := refusingUpstream(t)
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager")[:4], upstreams: []store.Upstream{{
		Name: "up", URL: usURL, HeadersEnv: map[string]string{"Authorization": "GH_TEST_UNSET_VARIABLE"}}}})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	if names := toolNames(t, cs); slices.Contains(names, "echo") {
		t.Errorf("listed %v", names)
	}
	if r := call(t, cs, "echo", map[string]any{"text": "hi"}); !r.IsError {
		t.Error("echo ran")
	}
	waitFor(t, "the upstream's error", func() bool {
		ups := e.gw.Upstreams()
		return len(ups) == 1 && strings.Contains(ups[0].LastError, "for the Authorization header (headers_env) is not set") &&
			!strings.Contains(ups[0].LastError, "GH_TEST_UNSET_VARIABLE")
	})
	if ups := e.gw.Upstreams(); ups[0].Connected {
		t.Errorf("connected without credentials: %+v", ups[0])
	}
	if n := hits(); n != 0 {
		t.Errorf("the upstream got %d requests without credentials", n)
	}
}

// TestUpstreamHeaderFromOwnSetting: an upstream stored with a header read
// from one of Gatehouse's own settings (GATEHOUSE_*; the tenant file
// refuses it, a store written otherwise might hold it) is not connected,
// and the upstream never sees the setting's value.
func TestUpstreamHeaderFromOwnSetting(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_OWN_SETTING", "a-setting-never-passed-on")
	var seen []string
	var mu sync.Mutex
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager")[:4], upstreams: []store.Upstream{{
		Name: "up", URL: us.URL, HeadersEnv: map[string]string{"X-Api-Key": "GATEHOUSE_TEST_OWN_SETTING"}}}})
	waitFor(t, "the upstream's error", func() bool {
		ups := e.gw.Upstreams()
		return len(ups) == 1 && strings.Contains(ups[0].LastError, "headers_env.X-Api-Key") &&
			strings.Contains(ups[0].LastError, "never passed on") && !strings.Contains(ups[0].LastError, "GATEHOUSE_TEST_OWN_SETTING")
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("the upstream got %d requests (X-Api-Key %q)", len(seen), seen)
	}
}

// TestUpstreamRedirectNotFollowed: an upstream that answers with a
// redirect does not get the gateway to send its request (with its own
// credentials and the call's arguments) elsewhere: the redirect is not
// followed, the upstream shows the error.
func TestUpstreamRedirectNotFollowed(t *testing.T) {
	t.Setenv("GH_TEST_UPSTREAM_AUTH", "Bearer the-gateways-own")
	var elsewhere sync.Mutex
	var reached []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Lock()
		reached = append(reached, r.Method+" "+r.Header.Get("Authorization"))
		elsewhere.Unlock()
		http.Error(w, "not an MCP server", http.StatusNotFound)
	}))
	t.Cleanup(target.Close)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{upstreams: []store.Upstream{{
		Name: "up", URL: us.URL, HeadersEnv: map[string]string{"Authorization": "GH_TEST_UPSTREAM_AUTH"}}}})
	waitFor(t, "the upstream's error", func() bool {
		for _, s := range e.gw.Upstreams() {
			if s.Name == "up" {
				return !s.Connected && s.LastError != ""
			}
		}
		return false
	})
	elsewhere.Lock()
	defer elsewhere.Unlock()
	if len(reached) != 0 {
		t.Errorf("the redirect was followed: %q", reached)
	}
}

// guardedUpstream serves upstream over Streamable HTTP to requests whose
// Authorization header is want only (others get 401), and returns its URL
// and every Authorization header it was sent, in order.
func guardedUpstream(t *testing.T, upstream *mcp.Server, want string) (url string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != want {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	return us.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// refusingUpstream answers every request 401, and returns its URL and how
// many requests it got.
func refusingUpstream(t *testing.T) (url string, hits func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(us.Close)
	return us.URL, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
