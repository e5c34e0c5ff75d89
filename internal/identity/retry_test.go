package identity

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestRefusedPresentationSpendsNothing: a code or refresh token presented
// with a resource outside its grant, or a refresh asking for a wider
// scope, is refused without being spent, so the client's corrected retry
// works instead of being taken for a replay (which revokes the whole
// grant). A real second use is still a replay.
func TestRefusedPresentationSpendsNothing(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams("scope", "openid offline_access"))
	if r := h.redeem(code, "resource", h.srv.URL+"/elsewhere"); r.Error != "invalid_target" {
		t.Fatalf("code with a resource outside the grant: %v", r.JSON)
	}
	r := h.redeem(code)
	if r.Status != 200 || r.Refresh == "" {
		t.Fatalf("the corrected retry: %v", r.JSON)
	}
	for _, bad := range [][]string{{"resource", h.srv.URL + "/elsewhere"}, {"scope", "openid offline_access email"}} {
		if x := refresh(h, r.Refresh, bad...); x.Status == 200 {
			t.Fatalf("refresh with %v: %v", bad, x.JSON)
		}
	}
	next := refresh(h, r.Refresh)
	if next.Status != 200 || next.Refresh == "" {
		t.Fatalf("the corrected refresh: %v", next.JSON)
	}
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("a real replay: %v", x.JSON)
	}
	if x := refresh(h, next.Refresh); x.Error != "invalid_grant" {
		t.Errorf("the family survived a replay: %v", x.JSON)
	}
}

// TestGrantWithoutOfflineAccessEndsWithTheSignIn: a grant without
// offline_access refreshes while the sign-in it came from lasts, not after
// a logout or past the session's lifetime; one with offline_access keeps
// access while the person is away.
func TestGrantWithoutOfflineAccessEndsWithTheSignIn(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams("scope", "openid")))
	offline := h.redeem(h.code(b, authParams("scope", "openid offline_access")))
	if online.Refresh == "" || offline.Refresh == "" {
		t.Fatalf("no refresh tokens: %v %v", online.JSON, offline.JSON)
	}
	next := refresh(h, online.Refresh)
	if next.Status != 200 {
		t.Fatalf("refresh during the sign-in: %v", next.JSON)
	}
	resp, err := b.Get(h.url("/logout?" + url.Values{"id_token_hint": {online.ID}, "post_logout_redirect_uri": {"https://app.example/bye"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if x := refresh(h, next.Refresh); x.Error != "invalid_grant" {
		t.Errorf("refresh without offline_access after logout: %v", x.JSON)
	}
	// Introspection agrees with /token (RFC 7662: a token that cannot be
	// used is inactive), for the client it belongs to.
	if in := h.post("/introspect", "web", "web-secret", url.Values{"token": {next.Refresh}}); in.JSON["active"] != false {
		t.Errorf("introspection of that refresh token: %v", in.JSON)
	}
	if in := h.post("/introspect", "web", "web-secret", url.Values{"token": {offline.Refresh}}); in.JSON["active"] != true {
		t.Errorf("introspection of an offline refresh token: %v", in.JSON)
	}
	if x := refresh(h, offline.Refresh); x.Status != 200 {
		t.Errorf("refresh with offline_access after logout: %v", x.JSON)
	}

	// Past the session's lifetime, without a logout.
	b = h.signedIn("alice")
	online = h.redeem(h.code(b, authParams("scope", "openid")))
	h.clock.Advance(h.p.sessionTTL() + time.Minute)
	if x := refresh(h, online.Refresh); x.Error != "invalid_grant" {
		t.Errorf("refresh without offline_access past the session: %v", x.JSON)
	}
}

// TestTokensOfAnEarlierPersonOrClient: removing a person or a client, then
// creating one of the same name, does not hand the new one what the old
// one held: access tokens introspect inactive, a refresh token of the
// earlier client counts for nothing. (The new one's creation is dated two
// minutes on in the store, past accesstoken.CreationMargin, as if it came
// later.)
func TestTokensOfAnEarlierPersonOrClient(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	later := func(table, name string) {
		t.Helper()
		if _, err := h.db.SQL().Exec(h.db.Rebind("UPDATE "+table+" SET created_at = created_at + ? WHERE name = ?"),
			(2 * time.Minute).Microseconds(), name); err != nil {
			t.Fatal(err)
		}
	}
	introspect := func(tok string) any {
		t.Helper()
		return h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}}).JSON["active"]
	}
	r := h.userTokens("scope", "openid offline_access")
	if a := introspect(r.Access); a != true {
		t.Fatalf("a fresh token introspects %v", a)
	}
	alice, err := h.db.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if a := introspect(r.Access); a != false {
		t.Errorf("a removed person's token introspects %v", a)
	}
	if err := h.db.Users().Create(ctx, alice); err != nil {
		t.Fatal(err)
	}
	later("users", "alice")
	if a := introspect(r.Access); a != false {
		t.Errorf("an earlier alice's token introspects %v for the new one", a)
	}

	// The client: a refresh token and access token of the earlier one.
	h.clock.Advance(3 * time.Minute) // the new alice's time
	r = h.userTokens("scope", "openid offline_access")
	if a := introspect(r.Access); a != true {
		t.Fatalf("the new alice's token introspects %v", a)
	}
	h.recreateClient("web")
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("an earlier client's refresh token: %v", x.JSON)
	}
	if a := introspect(r.Access); a != false {
		t.Errorf("an earlier client's access token introspects %v", a)
	}
}

// TestRemovedMetadataClientEndsItsGrants: a client known by its metadata
// document URL, removed ('client remove'), is stored again from the document
// on its next use, as a new client: what the removed one was given ends with
// it, as for any other client. Its access token no longer introspects
// active, its refresh token is refused, and prompt=none gets no code without
// a new consent. Before, metadata clients were exempt from the creation
// check (their record taken for a mere cache), and all three went on.
func TestRemovedMetadataClientEndsItsGrants(t *testing.T) {
	m := newMetadataServer(t)
	h := metadataHarness(t, m, func(p *Provider) { p.ClientCacheTTL = -1 })
	m.docs["/client.json"] = jsonDoc(map[string]any{"client_name": "Claude", "redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	id := m.srv.URL + "/client.json"
	const cb = "http://127.0.0.1:5555/cb"
	params := func(extra ...string) url.Values {
		return authParams(append([]string{"client_id", id, "redirect_uri", cb, "scope", "openid offline_access"}, extra...)...)
	}
	b := h.signedIn("alice")
	consent := func() url.Values {
		t.Helper()
		csrf, authz := consentForm(t, h.authorize(b, params()))
		resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		return redirectQuery(t, resp, cb+"?")
	}
	q := consent()
	r := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}})
	if r.Status != 200 {
		t.Fatalf("redeem: %v", r.JSON)
	}
	introspect := func(tok string) any {
		t.Helper()
		return h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}}).JSON["active"]
	}
	if a := introspect(r.Access); a != true {
		t.Fatalf("a fresh token introspects %v", a)
	}

	if err := h.db.Clients().Delete(t.Context(), id); err != nil { // client remove
		t.Fatal(err)
	}
	if a := introspect(r.Access); a != false {
		t.Errorf("the removed client's access token introspects %v", a)
	}
	h.clock.Advance(2 * time.Minute)
	if x := h.token(id, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); x.Error != "invalid_grant" {
		t.Errorf("the removed client's refresh token: %d %v", x.Status, x.JSON)
	}
	if _, err := h.db.Clients().Get(t.Context(), id); err != nil {
		t.Errorf("the client was not stored again on its next use: %v", err)
	}
	if a := introspect(r.Access); a != false {
		t.Errorf("the removed client's access token introspects %v once the client is stored again", a)
	}
	// No consent of its own: prompt=none gets no code, and the error is
	// shown as a page, not bounced to a self-registered client's redirect
	// URI on the strength of the removed client's consent.
	if resp := h.authorize(b, params("prompt", "none")); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("prompt=none for the client stored again: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Consent given to the new one works as for any new client.
	q = consent()
	r = h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}})
	if r.Status != 200 || introspect(r.Access) != true {
		t.Fatalf("the new client's token: %v", r.JSON)
	}
	if x := h.token(id, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); x.Status != 200 {
		t.Errorf("the new client's refresh token: %v", x.JSON)
	}
}
