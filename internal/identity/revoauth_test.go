package identity

// Conformance checks from the revoauth review of the authorization server
// (OAuth 2.1, RFC 6749, RFC 8707, RFC 8252, RFC 9207, CORS for browser
// clients). Each cites the text it holds the provider to.

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// RFC 6749 §3.1 (authorization endpoint) and §3.2 (token endpoint):
// "Parameters sent without a value MUST be treated as if they were omitted
// from the request." An empty resource, request or request_uri was taken
// for a value: invalid_target, request_not_supported and
// request_uri_not_supported for a request that omits nothing it needs.
func TestRevoauthEmptyParametersAreOmitted(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for _, k := range []string{"resource", "request", "request_uri"} {
		v := authParams()
		v.Set(k, "")
		q := redirectQuery(t, h.authorize(b, v), webRedirect)
		if q.Get("code") == "" {
			t.Errorf("/authorize with %s= (empty): %s %q, want a code (RFC 6749 §3.1)", k, q.Get("error"), q.Get("error_description"))
		}
	}
	r := h.userTokens()
	x := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}, "resource": {""}})
	if x.Status != http.StatusOK || claims(t, x.Access)["aud"] != h.p.MCPResource {
		t.Errorf("refresh with resource= (empty): %d %v, want the grant's audience (RFC 6749 §3.2)", x.Status, x.JSON)
	}
	x = h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "resource": {""}})
	if x.Status != http.StatusOK || claims(t, x.Access)["aud"] != h.p.MCPResource {
		t.Errorf("client_credentials with resource= (empty): %d %v, want the default audience", x.Status, x.JSON)
	}
}

// Claims that held, kept as regressions where no other test covers them.
//
// RFC 8252 §7.3 for the IPv6 loopback literal (any port, else exact);
// RFC 6749 §4.1.2 and RFC 9207: state comes back byte for byte, with iss,
// also through the login and consent pages; CORS on every endpoint a
// browser-based client (SPA, MCP Inspector) calls.
func TestRevoauthHeldClaims(t *testing.T) {
	h := newHarness(t)
	if err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "v6", Kind: store.KindNative, FirstParty: true,
		Source: store.SourceTenant, RedirectURIs: []string{"http://[::1]/cb", "https://app6.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	b := h.signedIn("alice")
	for _, tc := range []struct {
		redirect string
		ok       bool
	}{
		{"http://[::1]:4567/cb", true},
		{"http://[::1]/cb", true},
		{"http://[0:0:0:0:0:0:0:1]:4567/cb", false}, // another spelling is another URI
		{"https://app6.example:444/cb", false},      // the port leeway is loopback's only
		{"https://APP6.example/cb", false},
		{"https://app6.example/cb/", false},
	} {
		resp := h.authorize(b, authParams("client_id", "v6", "redirect_uri", tc.redirect))
		resp.Body.Close()
		got := resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), tc.redirect+"?")
		if got != tc.ok {
			t.Errorf("%s: %d %q, want redirected %v", tc.redirect, resp.StatusCode, resp.Header.Get("Location"), tc.ok)
		}
	}

	// state through the login page and the consent page, unchanged.
	st := `a b+c/=&%é?#x"'<>\` + "\u202e"
	v := authParams("client_id", "native", "redirect_uri", "http://127.0.0.1:5555/callback", "state", st, "prompt", "login consent")
	nb := h.browser()
	next, form := h.url("/authorize?"+v.Encode()), url.Values(nil)
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("no redirect to the client after 10 steps")
		}
		var resp *http.Response
		var err error
		if form == nil {
			resp, err = nb.Get(next)
		} else {
			resp, err = nb.PostForm(next, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		page := body(t, resp)
		if resp.StatusCode == http.StatusSeeOther {
			loc, _ := resp.Location()
			if strings.HasPrefix(loc.String(), "http://127.0.0.1:5555/callback?") {
				if q := loc.Query(); q.Get("state") != st || q.Get("iss") != h.p.Issuer || q.Get("code") == "" {
					t.Errorf("answer %v, want the code with state %q and iss", q, st)
				}
				break
			}
			next, form = loc.String(), nil
			continue
		}
		csrf, authz := csrfRE.FindStringSubmatch(page), authzRE.FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || csrf == nil || authz == nil {
			t.Fatalf("%s: %d %s", next, resp.StatusCode, page)
		}
		if strings.Contains(page, `name="password"`) {
			form, next = url.Values{"username": {"alice"}, "password": {pw}}, h.url("/login")
		} else {
			form, next = url.Values{"decision": {"allow"}}, h.url("/consent")
		}
		form.Set("csrf", csrf[1])
		form.Set("authz", html.UnescapeString(authz[1]))
	}

	for _, p := range []string{"/token", "/revoke", "/introspect", "/register", "/userinfo", "/jwks.json",
		"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodOptions, h.url(p), nil)
		req.Header.Set("Origin", "http://spa.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("preflight %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	// The token endpoint's error answer, read by a browser: the CORS
	// header, and the challenge exposed.
	req, _ := http.NewRequest(http.MethodPost, h.url("/token"), strings.NewReader("grant_type=authorization_code&client_id=web"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://spa.example")
	x := h.do(req)
	if x.Status != http.StatusUnauthorized || x.Header.Get("Access-Control-Allow-Origin") != "*" ||
		x.Header.Get("WWW-Authenticate") == "" || !strings.Contains(x.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("token error to a browser: %d %v", x.Status, x.Header)
	}
}

// RFC 6749 §5.1 (and RFC 8693 §2.2.1, which uses it): expires_in is "the
// lifetime in seconds of the access token". A token exchange never gives a
// token that outlives its subject token; a subject token past its expiry
// by up to the replicas' skew (accesstoken.Skew) was still exchanged, for a
// token already expired, with a negative expires_in — which oauth4webapi
// (and so openid-client) refuses: "expires_in must be a non-negative
// number". Such a subject token is expired: invalid_grant.
func TestRevoauthExchangeNeverIssuesAnExpiredToken(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	exp := int64(claims(t, user.Access)["exp"].(float64))
	h.clock.Advance(time.Unix(exp, 0).Sub(h.clock.Now()) + 2*time.Second) // within the skew
	r := h.token("agent", "agent-secret", exchangeForm(user.Access))
	if r.Status == http.StatusOK {
		t.Errorf("exchange of a subject token expired 2 s ago: 200, expires_in %v; want invalid_grant", r.JSON["expires_in"])
	} else if r.Error != "invalid_grant" {
		t.Errorf("exchange of a subject token expired 2 s ago: %d %v, want invalid_grant", r.Status, r.JSON)
	}
}
