package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Requests whose client or redirect URI is not known good get a page and
// never a redirect.
func TestAuthorizeErrorPage(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for name, v := range map[string]url.Values{
		"no client_id":         authParams("client_id", ""),
		"unknown client":       authParams("client_id", "nobody"),
		"unregistered":         authParams("redirect_uri", "https://evil.example/cb"),
		"registered + path":    authParams("redirect_uri", webRedirect+"/x"),
		"registered + query":   authParams("redirect_uri", webRedirect+"?a=b"),
		"fragment":             authParams("redirect_uri", webRedirect+"#f"),
		"omitted, two known":   authParams("redirect_uri", ""),
		"two redirect_uris":    {"client_id": {"web"}, "redirect_uri": {webRedirect, webRedirect}},
		"two client_ids":       {"client_id": {"web", "web"}, "redirect_uri": {webRedirect}},
		"javascript redirect":  authParams("redirect_uri", "javascript:alert(1)"),
		"unknown URL clientid": authParams("client_id", "https://127.0.0.1:1/client.json"),
	} {
		t.Run(name, func(t *testing.T) {
			resp := h.authorize(b, v)
			html := body(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(html, "Request refused") || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("page %q", html)
			}
		})
	}
}

// After the client and redirect URI are known good, errors go back to
// the client with state and iss.
func TestAuthorizeErrorRedirect(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for _, tc := range []struct {
		name  string
		v     url.Values
		error string
	}{
		{"no response_type", authParams("response_type", ""), "invalid_request"},
		{"implicit", authParams("response_type", "token"), "unsupported_response_type"},
		{"hybrid", authParams("response_type", "code id_token"), "unsupported_response_type"},
		{"no PKCE", authParams("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		{"plain PKCE", authParams("code_challenge", verifier, "code_challenge_method", "plain"), "invalid_request"},
		{"method omitted (= plain)", authParams("code_challenge_method", ""), "invalid_request"},
		{"method without challenge", authParams("code_challenge", ""), "invalid_request"},
		{"short challenge", authParams("code_challenge", "abc"), "invalid_request"},
		{"unknown resource", authParams("resource", "https://other.example/"), "invalid_target"},
		{"relative resource", authParams("resource", "/mcp"), "invalid_target"},
		{"resource with fragment", authParams("resource", h.srv.URL+"/mcp#x"), "invalid_target"},
		{"request object", authParams("request", "eyJ..."), "request_not_supported"},
		{"request_uri", authParams("request_uri", "urn:x"), "request_uri_not_supported"},
		{"fragment response mode", authParams("response_mode", "fragment"), "invalid_request"},
		{"form_post response mode", authParams("response_mode", "form_post"), "invalid_request"},
		{"malformed scope", authParams("scope", "openid \"x\""), "invalid_scope"},
		{"service client", authParams("client_id", "billing", "redirect_uri", ""), ""},
		{"prompt none + login", authParams("prompt", "none login"), "invalid_request"},
		{"bad max_age", authParams("max_age", "-1"), "invalid_request"},
		{"bad id_token_hint", authParams("id_token_hint", "x.y.z"), "invalid_request"},
		{"duplicate state", func() url.Values { v := authParams(); v["state"] = []string{"a", "b"}; return v }(), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.authorize(b, tc.v)
			if tc.error == "" { // the service client has no redirect URI: a page
				body(t, resp)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			q := redirectQuery(t, resp, webRedirect+"?")
			if q.Get("error") != tc.error || q.Get("iss") != h.srv.URL || q.Has("code") {
				t.Errorf("got %v, want error %s", q, tc.error)
			}
			if tc.name != "duplicate state" && q.Get("state") != "st-1" {
				t.Errorf("state %q", q.Get("state"))
			}
		})
	}
}

func TestAuthorizeAgentAsksConsent(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	v := authParams("client_id", "agent", "redirect_uri", agentRedirect)
	resp := h.authorize(b, v)
	body(t, resp)
	if resp.StatusCode != http.StatusOK { // agent: consent page
		t.Fatalf("agent: %d", resp.StatusCode)
	}
}

func TestPromptNoneAndMaxAge(t *testing.T) {
	h := newHarness(t)
	anon := h.browser()
	q := redirectQuery(t, h.authorize(anon, authParams("prompt", "none")), webRedirect)
	if q.Get("error") != "login_required" || q.Get("state") != "st-1" {
		t.Errorf("prompt=none without session: %v", q)
	}
	b := h.signedIn("alice")
	if q := redirectQuery(t, h.authorize(b, authParams("prompt", "none")), webRedirect); q.Get("code") == "" {
		t.Errorf("prompt=none with a session: %v", q)
	}
	// prompt=login and max_age=0 ask again, then come back without asking.
	for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "0"}} {
		resp := h.authorize(b, authParams(extra...))
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, h.url("/login?")) {
			t.Fatalf("%v: %q", extra, loc)
		}
		lu, _ := url.Parse(loc)
		authz, _ := url.ParseQuery(lu.Query().Get("authz"))
		if authz.Has("prompt") || authz.Get("max_age") == "0" {
			t.Errorf("%v: the login's return still asks for a login: %v", extra, authz)
		}
	}
	// max_age: a login older than it asks again.
	h.clock.Advance(10 * 60e9)
	resp := h.authorize(b, authParams("max_age", "60"))
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Location"), h.url("/login?")) {
		t.Errorf("max_age=60 after 10 minutes: %q", resp.Header.Get("Location"))
	}
	if q := redirectQuery(t, h.authorize(b, authParams("max_age", "3600")), webRedirect); q.Get("code") == "" {
		t.Errorf("max_age=3600: %v", q)
	}
}

func TestIDTokenHint(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	// Bob is signed in; a hint for alice asks for a login (or, with
	// prompt=none, says login_required).
	b := h.signedIn("bob")
	q := redirectQuery(t, h.authorize(b, authParams("prompt", "none", "id_token_hint", r.ID)), webRedirect)
	if q.Get("error") != "login_required" {
		t.Errorf("hint for another user: %v", q)
	}
	// An access token is not an ID token hint.
	q = redirectQuery(t, h.authorize(b, authParams("id_token_hint", r.Access)), webRedirect)
	if q.Get("error") != "invalid_request" {
		t.Errorf("access token as hint: %v", q)
	}
}

func TestAuthorizePost(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	resp, err := b.PostForm(h.url("/authorize"), authParams())
	if err != nil {
		t.Fatal(err)
	}
	if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
		t.Errorf("POST /authorize: %v", q)
	}
}

// TestMaxAgeBeyondTheEpoch: a max_age reaching back before 1970 asks for
// nothing a sign-in cannot meet: the person signs in and the app gets its
// code (not invalid_request from the login page's way back).
func TestMaxAgeBeyondTheEpoch(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	resp := h.authorize(b, authParams("max_age", "99999999999"))
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, h.url("/login?")) {
		t.Fatalf("no session: %d %q", resp.StatusCode, loc)
	}
	lu, _ := url.Parse(loc)
	resp = h.login(b, "alice", pw, lu.Query())
	resp.Body.Close()
	resp, err := b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
		t.Errorf("max_age beyond the epoch, after signing in: %v", q)
	}
}
