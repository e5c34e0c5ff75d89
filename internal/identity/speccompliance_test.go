package identity

// Checks of the provider against the specifications, from a review. Each
// cites the specification text it holds the provider to.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// RFC 7662 §2.1 (token_type_hint): "If the server is unable to locate the
// token using the given hint, it MUST extend its search across all of its
// supported token types." A valid access token introspected with a wrong
// hint (refresh_token) must still be reported active.
func TestSpecIntrospectHintFallsBack(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	plain := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}})
	if plain.JSON["active"] != true {
		t.Fatalf("without a hint: %v", plain.JSON)
	}
	x := h.post("/introspect", "billing", "billing-secret",
		url.Values{"token": {r.Access}, "token_type_hint": {"refresh_token"}})
	if x.Status != http.StatusOK || x.JSON["active"] != true {
		t.Errorf("access token with token_type_hint=refresh_token: %d %v, want active true (RFC 7662 §2.1)", x.Status, x.JSON)
	}
}

// RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization response):
// "Values for the error_description parameter MUST NOT include characters
// outside the set %x20-21 / %x23-5B / %x5D-7E" — no double quote, no
// backslash. Descriptions built with %q put both in.
func TestSpecErrorDescriptionCharset(t *testing.T) {
	h := newHarness(t)
	valid := func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c == 0x22 || c == 0x5c || c > 0x7e {
				return false
			}
		}
		return true
	}
	for name, f := range map[string]url.Values{
		"unsupported_grant_type": {"grant_type": {"password"}},
		"invalid_target":         {"grant_type": {"client_credentials"}, "resource": {"https://nope.example/"}},
	} {
		id, secret := "web", "web-secret"
		if name == "invalid_target" {
			id, secret = "billing", "billing-secret"
		}
		x := h.post("/token", id, secret, f)
		d, _ := x.JSON["error_description"].(string)
		if x.Error != name || !valid(d) {
			t.Errorf("token %s: error_description %q has characters RFC 6749 §5.2 forbids", x.Error, d)
		}
	}
	b := h.signedIn("alice")
	q := redirectQuery(t, h.authorize(b, authParams("resource", "https://other.example/")), webRedirect)
	if d := q.Get("error_description"); q.Get("error") != "invalid_target" || !valid(d) {
		t.Errorf("authorize %s: error_description %q has characters RFC 6749 §4.1.2.1 forbids", q.Get("error"), d)
	}
}

// RFC 9110 §15.5.2: "The server generating a 401 response MUST send a
// WWW-Authenticate header field containing at least one challenge." RFC
// 6749 §5.2 lets invalid_client be a 401 "to indicate which HTTP
// authentication schemes are supported" — which is the challenge. The
// token and introspection endpoints answer 401 with none when the client
// used client_secret_post, none, or no authentication at all.
func TestSpec401CarriesChallenge(t *testing.T) {
	h := newHarness(t)
	for name, tc := range map[string]struct {
		path string
		f    url.Values
	}{
		"token, wrong client_secret_post": {"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing"}, "client_secret": {"wrong"}}},
		"token, no client authentication": {"/token", url.Values{"grant_type": {"client_credentials"}}},
		"introspect, public client":       {"/introspect", url.Values{"client_id": {"native"}, "token": {"x"}}},
	} {
		x := h.post(tc.path, "", "", tc.f)
		if x.Status == http.StatusUnauthorized && x.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 %s without WWW-Authenticate (RFC 9110 §15.5.2, RFC 6749 §5.2)", name, x.Error)
		}
	}
}

// RFC 6750 §3: "If the protected resource request does not include
// authentication credentials or does not contain an access token that
// enables access to the protected resource, the resource server MUST
// include the HTTP WWW-Authenticate response header field". §3.1: a
// request using an unsupported authentication method is one that "lacks
// any authentication information" (401, no error code). The userinfo
// endpoint (OIDC Core §5.3.3 uses RFC 6750 errors) answers a Basic
// Authorization header with 400 and no challenge.
func TestSpecUserinfoNonBearerChallenge(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.url("/userinfo"), nil)
	req.SetBasicAuth("web", "web-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
		t.Errorf("userinfo with Authorization: Basic: %d %s, WWW-Authenticate %q; want a Bearer challenge (RFC 6750 §3)",
			resp.StatusCode, strings.TrimSpace(b), ch)
	}
}

// OpenID Connect RP-Initiated Logout 1.0 §3: post_logout_redirect_uri
// "MUST have been previously registered with the OP" (compared as
// redirect_uri is, by simple string comparison: OIDC Core §3.1.2.1). The
// port leeway of RFC 8252 §7.3 is for authorization redirect URIs of
// native apps, not post-logout URIs: a URI on another loopback port was
// never registered, yet the browser is sent there.
func TestSpecPostLogoutRedirectExact(t *testing.T) {
	h := newHarness(t)
	err := h.db.Clients().Create(context.Background(), store.Client{ClientID: "web2", Name: "Web 2",
		Kind: store.KindWeb, SecretHash: hash(t, "web2-secret"), FirstParty: true, Source: store.SourceTenant,
		RedirectURIs: []string{webRedirect}, PostLogoutRedirectURIs: []string{"http://127.0.0.1:7000/bye"}})
	if err != nil {
		t.Fatal(err)
	}
	b := h.signedIn("alice")
	code := h.code(b, authParams("client_id", "web2"))
	r := h.token("web2", "web2-secret", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {webRedirect}})
	if r.ID == "" {
		t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	v := url.Values{"id_token_hint": {r.ID}, "post_logout_redirect_uri": {"http://127.0.0.1:7001/bye"}, "state": {"s"}}
	resp, err := b.Get(h.url("/logout?" + v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "http://127.0.0.1:7001/") {
		t.Errorf("logout redirected to the unregistered %q (registered: http://127.0.0.1:7000/bye)", loc)
	}
}
