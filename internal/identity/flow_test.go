package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

func TestCodeFlow(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	// Not signed in: the authorization request sends the browser to the
	// login page, which brings it back.
	resp := h.authorize(b, authParams())
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/login?authz=")) {
		t.Fatalf("authorize without a session: %d %q", resp.StatusCode, loc)
	}
	lu, _ := url.Parse(loc)
	resp = h.login(b, "alice", pw, url.Values{"authz": {lu.Query().Get("authz")}})
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, h.url("/authorize?")) {
		t.Fatalf("login: %d %q", resp.StatusCode, back)
	}
	resp, err := b.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	q := redirectQuery(t, resp, webRedirect+"?")
	if q.Get("state") != "st-1" || q.Get("iss") != h.srv.URL || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	r := h.redeem(q.Get("code"))
	if r.Status != 200 {
		t.Fatalf("token: %d %v", r.Status, r.JSON)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if r.JSON["token_type"] != "Bearer" || r.JSON["expires_in"] != float64(600) || r.JSON["scope"] != "openid profile email" {
		t.Errorf("token response %v", r.JSON)
	}
	if r.Refresh == "" || r.ID == "" {
		t.Fatalf("missing refresh or ID token: %v", r.JSON)
	}

	// The access token: at+jwt, EdDSA, aud = the MCP resource.
	at, err := accesstoken.Verify(h.p.Keys, r.Access, h.srv.URL, h.srv.URL+"/mcp", time.Now())
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if at.Subject != "alice" || at.ClientID != "web" || at.Scope != "openid profile email" || at.GrantID == "" ||
		at.SessionID == "" || at.AuthTime == 0 || at.Act != nil {
		t.Errorf("access token claims %+v", at)
	}
	if hd := header(t, r.Access); hd["typ"] != "at+jwt" || hd["alg"] != "EdDSA" {
		t.Errorf("access token header %v", hd)
	}

	// The ID token: RS256, typ JWT, verified by the published key.
	if hd := header(t, r.ID); hd["alg"] != "RS256" || hd["typ"] != "JWT" {
		t.Errorf("ID token header %v", hd)
	}
	if _, err := h.p.Keys.Verify(r.ID, "JWT"); err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	id := claims(t, r.ID)
	for k, want := range map[string]any{"iss": h.srv.URL, "sub": "alice", "aud": "web", "nonce": "n-1",
		"sid": at.SessionID, "at_hash": leftHalfSHA256(r.Access), "preferred_username": "alice", "email": "alice@acme.example"} {
		if id[k] != want {
			t.Errorf("ID token %s = %v, want %v", k, id[k], want)
		}
	}
	if id["auth_time"] == nil || id["exp"].(float64) <= id["iat"].(float64) {
		t.Errorf("ID token times %v", id)
	}

	// The login and the issue are on the audit trail, with no secret.
	ev, ok := h.audit.last(audit.TokenIssued)
	if !ok || ev.Actor != "alice" || ev.Agent != "web" || ev.TokenID != at.JTI || ev.Session != at.SessionID {
		t.Errorf("token event %+v", ev)
	}
	if _, ok := h.audit.last(audit.LoginSucceeded); !ok {
		t.Error("no login event")
	}
	for _, e := range h.audit.events {
		s := strings.Join([]string{e.Actor, e.Agent, e.TokenID, e.Session}, " ")
		for _, secret := range []string{r.Access, r.Refresh, r.ID, q.Get("code"), pw, verifier} {
			if strings.Contains(s, secret) || strings.Contains(strings.ReplaceAll(mustJSON(e.Detail), `\u0026`, "&"), secret) {
				t.Errorf("event %s holds a secret", e.Type)
			}
		}
	}
}

func TestNoScope(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens("scope", "", "nonce", "")
	if r.ID != "" {
		t.Error("an ID token without openid")
	}
	c := claims(t, r.Access)
	if c["scope"] != nil || c["sub"] != "alice" || c["aud"] != h.srv.URL+"/mcp" {
		t.Errorf("claims %v", c)
	}
}

func TestUnknownScopesAreDropped(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens("scope", "openid mcp:everything tools")
	if r.JSON["scope"] != "openid tools" {
		t.Errorf("granted scope %v", r.JSON["scope"])
	}
}

func TestResourceIndicator(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	// Two resources at the authorization; the token asks for one of them.
	v := authParams()
	v["resource"] = []string{"https://api.example/", h.srv.URL + "/mcp"}
	r := h.redeem(h.code(b, v), "resource", "https://api.example/")
	if r.Status != 200 || claims(t, r.Access)["aud"] != "https://api.example/" {
		t.Fatalf("narrowed: %d %v", r.Status, r.JSON)
	}
	// Without a resource at the token, both.
	r = h.redeem(h.code(b, v))
	if aud, _ := claims(t, r.Access)["aud"].([]any); len(aud) != 2 {
		t.Errorf("both: aud %v", claims(t, r.Access)["aud"])
	}
	// A refresh may narrow again within the grant, not beyond it.
	rr := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh},
		"resource": {h.srv.URL + "/mcp"}})
	if rr.Status != 200 || claims(t, rr.Access)["aud"] != h.srv.URL+"/mcp" {
		t.Errorf("refresh narrowed: %d %v", rr.Status, rr.JSON)
	}
	// A resource outside the grant, at the token endpoint.
	one := authParams("resource", "https://api.example/")
	r = h.redeem(h.code(b, one), "resource", h.srv.URL+"/mcp")
	if r.Error != "invalid_target" {
		t.Errorf("outside the grant: %d %v", r.Status, r.JSON)
	}
}

func TestLoopbackPortMayVary(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for _, tc := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:53127/callback", true},
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:53127/other", false},
		{"http://localhost:53127/callback", false}, // another host than the registered one
		{"http://127.0.0.1:53127/callback?x=1", false},
		{"https://127.0.0.1:53127/callback", false},
	} {
		v := authParams("client_id", "native", "redirect_uri", tc.redirect)
		resp := h.authorize(b, v)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if tc.ok {
			// native is not first-party: the answer is the consent page.
			if resp.StatusCode != http.StatusOK || loc != "" {
				t.Errorf("%s: %d %q, want the consent page", tc.redirect, resp.StatusCode, loc)
			}
		} else if resp.StatusCode != http.StatusBadRequest || loc != "" {
			t.Errorf("%s: %d %q, want an error page", tc.redirect, resp.StatusCode, loc)
		}
	}
	// The web client's redirect with a query keeps its query, byte for byte.
	q := redirectQuery(t, h.authorize(b, authParams("redirect_uri", "https://app.example/cb?x=1")), "https://app.example/cb?x=1&")
	if q.Get("code") == "" {
		t.Error("no code")
	}
}

func mustJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}
