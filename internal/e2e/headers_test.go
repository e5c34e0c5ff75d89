package e2e_test

// The headers a security review looks for, on the answers of a running
// Gatehouse as a browser or a client receives them.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/internal/server"
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

// The sign-in and consent pages: no script but a nonce'd one, never in a
// frame (a consent clicked through a transparent frame is a grant), no
// Referer with the authorization request's query, never kept by a cache
// (they carry a CSRF token and who is asking for what); and their form
// posts are not open to other origins' scripts.
func TestPagesHeaders(t *testing.T) {
	gh := e2e.Start(t, oidcTenant, nil)
	d := oidcDiscover(t, gh)
	b := newOIDCBrowser(t)
	_, challenge := oidcPKCE()
	u := oidcAuthURL(d, map[string]string{"client_id": oidcCLIClient, "redirect_uri": oidcCLIRedirect, "code_challenge": challenge})
	target, method, form := u, http.MethodGet, url.Values(nil)
	seen := map[string]bool{}
	for range 10 {
		p := b.do(t, method, target, form)
		if p.status >= 300 && p.status < 400 {
			if strings.HasPrefix(p.location, oidcCLIRedirect) {
				break
			}
			target, method, form = p.location, http.MethodGet, nil
			continue
		}
		page := "login"
		if strings.Contains(p.body, `name="decision"`) {
			page = "consent"
		}
		seen[page] = true
		h := p.header
		csp := h.Get("Content-Security-Policy")
		scripts := cspDirective(csp, "script-src")
		if scripts == nil {
			scripts = cspDirective(csp, "default-src")
		}
		if cspDirective(csp, "frame-ancestors") == nil || strings.Join(cspDirective(csp, "frame-ancestors"), " ") != "'none'" ||
			scripts == nil || slices.Contains(scripts, "'unsafe-inline'") || slices.Contains(scripts, "*") {
			t.Errorf("%s page: Content-Security-Policy %q", page, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s page: %s %q, want %q", page, k, got, want)
			}
		}
		action, f := p.form(t, target)
		if page == "login" {
			f.Set("username", oidcUser)
			f.Set("password", oidcPassword)
		} else {
			f.Set("decision", "allow")
		}
		// A script of another origin asking to post the form: no
		// preflight answer lets it, and the post's answer is not its to read.
		status, ph := headerAnswer(t, http.MethodOptions, action, "", map[string]string{"Origin": "https://evil.example",
			"Access-Control-Request-Method": "POST"})
		if ph.Get("Access-Control-Allow-Origin") != "" || status/100 == 2 {
			t.Errorf("preflight of the %s form's post from another origin: %d %v", page, status, ph)
		}
		_, ph = headerAnswer(t, http.MethodPost, action, "", map[string]string{"Origin": "https://evil.example",
			"Content-Type": "application/x-www-form-urlencoded"})
		if ph.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("the %s form's post from another origin: Access-Control-Allow-Origin %q", page, ph.Get("Access-Control-Allow-Origin"))
		}
		target, method, form = action, http.MethodPost, f
	}
	if !seen["login"] || !seen["consent"] {
		t.Fatalf("pages seen: %v, want the login and the consent page", seen)
	}
}

// cspDirective returns the sources of a policy's directive, nil when the
// policy has none.
func cspDirective(policy, name string) []string {
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && strings.EqualFold(f[0], name) {
			return append([]string{}, f[1:]...)
		}
	}
	return nil
}

// The muxes' own refusals (no route, wrong method) echo nothing of the
// request as HTML.
func TestMuxRefusalsArePlainText(t *testing.T) {
	gh := e2e.Start(t, oidcTenant, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/nowhere/%3Cscript%3Ealert(1)%3C%2Fscript%3E"},
		{"DELETE", "/token"},
		{"PUT", "/healthz"},
		{"POST", "/admin/api/audit"},
		{"PUT", "/.well-known/openid-configuration"},
	} {
		status, h := headerAnswer(t, c.method, gh.URL+c.path, "", nil)
		if ct := h.Get("Content-Type"); status/100 != 4 || !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "application/json") ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %d Content-Type %q X-Content-Type-Options %q", c.method, c.path, status, ct, h.Get("X-Content-Type-Options"))
		}
	}
}

// /mcp takes bearer tokens only: the cookies of a browser signed in to
// Gatehouse are no credential there, so a page a person visits cannot act
// at /mcp as them. Origins not allowed are refused; an allowed one is
// named back, never with credentials.
func TestMCPAmbientCredentials(t *testing.T) {
	const app = "https://app.example"
	gh := e2e.Start(t, oidcTenant, &e2e.Options{Tweak: func(o *server.Options) { o.AllowedOrigins = []string{app} }})
	d := oidcDiscover(t, gh)
	b := newOIDCBrowser(t)
	b.signIn(t, oidcAuthURL(d, nil), oidcWebRedirect, oidcUser, oidcPassword)
	mcpURL, _ := url.Parse(gh.URL + "/mcp")
	if len(b.c.Jar.Cookies(mcpURL)) == 0 {
		t.Fatal("the browser holds no cookie for /mcp after signing in")
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"page","version":"1"}}}`
	for _, origin := range []string{"", app} {
		req, _ := http.NewRequest(http.MethodPost, mcpURL.String(), strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := b.c.Do(req) // with the session's cookies
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("POST /mcp (Origin %q) with the signed-in browser's cookies and no token: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}

	status, h := headerAnswer(t, http.MethodOptions, mcpURL.String(), "", map[string]string{"Origin": app,
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if status/100 != 2 || h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("preflight from an allowed origin: %d %v", status, h)
	}
	status, h = headerAnswer(t, http.MethodOptions, mcpURL.String(), "", map[string]string{"Origin": "https://evil.example",
		"Access-Control-Request-Method": "POST"})
	if status != http.StatusForbidden || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", status, h)
	}
}
