package identity

import (
	"net/url"
	"testing"
	"time"
)

// TestRevokedFamilyStaysRevokedWhileItsTokensLive: a refresh token revoked
// near the end of its grant revokes the access token its last rotation
// issued for as long as that token lives, also after a purge: that token
// outlives the grant by up to the access-token lifetime.
func TestRevokedFamilyStaysRevokedWhileItsTokensLive(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.GrantTTL = time.Hour })
	r := h.userTokens("scope", "openid offline_access")
	h.clock.Advance(55 * time.Minute)
	r2 := refresh(h, r.Refresh)
	if r2.Status != 200 {
		t.Fatalf("refresh: %v", r2.JSON)
	}
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r2.Refresh}}); x.Status != 200 {
		t.Fatalf("revoke: %v", x.JSON)
	}
	active := func() any {
		return h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r2.Access}}).JSON["active"]
	}
	if a := active(); a != false {
		t.Fatalf("just revoked: active %v", a)
	}
	// The grant ends at 60 min; the access token lives until 65 min.
	h.clock.Advance(6 * time.Minute)
	if err := h.p.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a := active(); a != false {
		t.Errorf("the revoked family's access token introspects active %v after a purge, before its expiry", a)
	}
}

// TestIntrospectionOfAnEarlierClientsRefreshToken: a refresh token of a
// client removed and created again under the same ID is refused at /token;
// introspection agrees (RFC 7662: inactive), as it does for the earlier
// client's access tokens.
func TestIntrospectionOfAnEarlierClientsRefreshToken(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens("scope", "openid offline_access")
	h.recreateClient("web")
	in := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Refresh}})
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Fatalf("an earlier client's refresh token at /token: %v", x.JSON)
	}
	if in.JSON["active"] != false {
		t.Errorf("an earlier client's refresh token introspects %v for the new client", in.JSON)
	}
	if in := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Access}}); in.JSON["active"] != false {
		t.Errorf("an earlier client's access token introspects %v", in.JSON)
	}
}
