package identity

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// withReports offers the scope reports besides tools.
func withReports(p *Provider) { p.Scopes = append(p.Scopes, "reports") }

// A registered scope (RFC 7591) is stored and is all the client can be
// granted: a request beyond it gets the registered part; one with nothing
// of it is invalid_scope. Tool scopes (which registration does not take)
// are not limited by it. A client that registered no scope, or only scopes
// not offered here, is not limited.
func TestRegisteredScopeLimitsGrants(t *testing.T) {
	h := newHarness(t, withReports)
	const cb = "https://scoped.example/cb"
	reg := h.register(`{"redirect_uris":["` + cb + `"],"scope":"openid tools tool:sales_report unknown"}`)
	if reg.Status != 201 || reg.JSON["scope"] != "openid tools" {
		t.Fatalf("register: %d %v", reg.Status, reg.JSON)
	}
	id, secret := reg.JSON["client_id"].(string), reg.JSON["client_secret"].(string)
	if c, err := h.db.Clients().Get(t.Context(), id); err != nil || !slices.Equal(c.Scopes, []string{"openid", "tools"}) {
		t.Fatalf("stored %+v %v", c.Scopes, err)
	}

	b := h.signedIn("alice")
	// codeFor runs the authorization of a client registered with cb
	// (consenting when asked) and redeems the code; code does it for id.
	codeFor := func(id, secret, scope string) tokenResult {
		t.Helper()
		resp := h.authorize(b, authParams("client_id", id, "redirect_uri", cb, "scope", scope))
		if resp.StatusCode == http.StatusOK {
			csrf, authz := consentForm(t, resp)
			resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		}
		q := redirectQuery(t, resp, cb+"?")
		if q.Get("error") != "" {
			return tokenResult{Error: q.Get("error"), JSON: map[string]any{"error_description": q.Get("error_description")}}
		}
		return h.token(id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"code_verifier": {verifier}, "redirect_uri": {cb}})
	}
	code := func(scope string) tokenResult { t.Helper(); return codeFor(id, secret, scope) }
	r := code("openid profile email tools reports")
	if r.Status != 200 || r.JSON["scope"] != "openid tools" {
		t.Fatalf("beyond the registration: %d %v, want the registered part", r.Status, r.JSON)
	}
	if c := claims(t, r.ID); c["email"] != nil || c["preferred_username"] != nil {
		t.Errorf("ID token with claims of scopes not granted: %v", c)
	}
	if r := code("profile email"); r.Error != "invalid_scope" {
		t.Errorf("nothing of the registration: %v, want invalid_scope", r)
	}
	// Tool scopes narrow a token; the registration does not limit them.
	if r := code("openid tool:sales_report"); r.Status != 200 || r.JSON["scope"] != "openid tool:sales_report" {
		t.Errorf("tool scope: %d %v", r.Status, r.JSON)
	}
	if r := code("tool:sales_report"); r.Status != 200 || r.JSON["scope"] != "tool:sales_report" {
		t.Errorf("tool scope alone: %d %v", r.Status, r.JSON)
	}

	// No scope registered, or none offered here: not limited (the
	// default, named in the answer when a scope was asked for).
	for doc, echo := range map[string]any{
		`{"redirect_uris":["` + cb + `"]}`:                    nil,
		`{"redirect_uris":["` + cb + `"],"scope":"claudeai"}`: "openid profile email offline_access tools reports",
	} {
		reg := h.register(doc)
		if reg.Status != 201 || reg.JSON["scope"] != echo {
			t.Fatalf("register %s: %v, want scope %v", doc, reg.JSON, echo)
		}
		r := codeFor(reg.JSON["client_id"].(string), reg.JSON["client_secret"].(string), "openid tools reports")
		if r.Status != 200 || r.JSON["scope"] != "openid tools reports" {
			t.Errorf("%s: %d %v", doc, r.Status, r.JSON)
		}
	}
}
