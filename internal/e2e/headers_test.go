package e2e_test

// The headers a security review looks for, on the answers of a running
// Gatehouse as a browser or a client receives them.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// headerAnswer sends a request with the given headers and returns its
// answer's status and headers.
func headerAnswer(t *testing.T, method, target, body string, hdr map[string]string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// Every answer, JSON and plain text alike, tells a browser not to guess
// its type: a JSON answer echoing a request's value, sniffed as HTML or
// script, would run in the issuer's origin.
func TestEveryAnswerIsNotSniffed(t *testing.T) {
	gh := e2e.Start(t, oidcTenant, nil)
	d := oidcDiscover(t, gh)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/.well-known/openid-configuration", ""},
		{"GET", "/.well-known/oauth-authorization-server", ""},
		{"GET", "/jwks.json", ""},
		{"GET", "/.well-known/oauth-protected-resource/mcp", ""},
		{"GET", "/.well-known/oauth-protected-resource/admin/api", ""},
		{"POST", "/token", "grant_type=authorization_code&code=<script>"},
		{"POST", "/introspect", "token=<script>"},
		{"POST", "/revoke", "token=<script>"},
		{"POST", "/register", "{}"},
		{"GET", "/userinfo", ""},
		{"POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{"GET", "/admin/api/audit", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
	} {
		status, h := headerAnswer(t, c.method, gh.URL+c.path, c.body, form)
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: %d with X-Content-Type-Options %q, want nosniff", c.method, c.path, status, got)
		}
	}

	// A token answer, the one that carries the secrets.
	verifier, challenge := oidcPKCE()
	cb := newOIDCBrowser(t).signIn(t, oidcAuthURL(d, map[string]string{"code_challenge": challenge}), oidcWebRedirect, oidcUser, oidcPassword)
	a := oidcToken(t, d, oidcWebClient, oidcWebSecret, url.Values{"grant_type": {"authorization_code"},
		"code": {cb.Query().Get("code")}, "redirect_uri": {oidcWebRedirect}, "code_verifier": {verifier}})
	if a.status != 200 || a.header.Get("X-Content-Type-Options") != "nosniff" || a.header.Get("Pragma") != "no-cache" {
		t.Errorf("token answer: %d %v", a.status, a.header)
	}
}

// The public documents a browser-based client reads (discovery, JWKS) may
// be kept by a shared cache (Cache-Control: public): the copy kept from a
// request without an Origin is the one a browser's request gets next, so
// it must carry the CORS header too, or say it varies by Origin.
func TestCachedDocumentsServeBrowsersToo(t *testing.T) {
	gh := e2e.Start(t, oidcTenant, nil)
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json",
		"/.well-known/oauth-protected-resource/mcp"} {
		status, h := headerAnswer(t, "GET", gh.URL+p, "", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d", p, status)
		}
		if h.Get("Access-Control-Allow-Origin") != "*" && !strings.Contains(strings.ToLower(strings.Join(h.Values("Vary"), ",")), "origin") {
			t.Errorf("GET %s without an Origin: Cache-Control %q, Access-Control-Allow-Origin %q, Vary %q: a cached copy would fail a browser's request",
				p, h.Get("Cache-Control"), h.Get("Access-Control-Allow-Origin"), h.Values("Vary"))
		}
	}
}
