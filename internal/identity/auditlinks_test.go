package identity

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// sessionTypes is what `gatehouse audit export --session S` lists: the
// types of the records of login session S, oldest first.
func sessionTypes(t *testing.T, l *audit.Log, session string) []string {
	t.Helper()
	p, err := l.Query(t.Context(), audit.Filter{Session: session, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range p.Entries {
		out = append(out, e.Event.Type)
	}
	return out
}

// TestRefreshRevocationNamesItsSession: the revocation of a refresh
// token is a token.revoked of the login session the grant came from. An
// access token's revocation names its session, and a refresh token's
// (which revokes the whole grant) too, so that `audit export --session S`
// shows the session's tokens issued and then revoked.
func TestRefreshRevocationNamesItsSession(t *testing.T) {
	h := newHarness(t)
	l := h.durableAudit()
	r := h.userTokens()
	if r.Refresh == "" {
		t.Fatalf("no refresh token: %v", r.JSON)
	}
	sid, _ := claims(t, r.Access)["sid"].(string)
	logins := stored(t, l, audit.LoginSucceeded)
	if len(logins) != 1 {
		t.Fatalf("logins: %d", len(logins))
	}
	session := logins[0].Event.Session
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r.Refresh}}); x.Status != 200 {
		t.Fatalf("revoke: %d %v", x.Status, x.JSON)
	}
	revs := stored(t, l, audit.TokenRevoked)
	if len(revs) != 1 {
		t.Fatalf("token.revoked records: %d", len(revs))
	}
	if got := revs[0].Event.Session; got != session {
		t.Errorf("token.revoked of the refresh token has session %q, want the login session %q (sid claim %q); "+
			"audit export --session shows %v", got, session, sid, sessionTypes(t, l, session))
	}
}

// TestCodeReuseNamesItsSession: a replayed authorization code
// revokes everything it issued (token.reuse_detected). The record names
// the person, the client and the login session whose grant it revoked, so
// that the session's export shows its tokens ending.
func TestCodeReuseNamesItsSession(t *testing.T) {
	h := newHarness(t)
	l := h.durableAudit()
	b := h.signedIn("alice")
	code := h.code(b, authParams())
	if r := h.redeem(code); r.Status != 200 {
		t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	if r := h.redeem(code); r.Status == 200 {
		t.Fatalf("a code redeemed twice: %v", r.JSON)
	}
	session := stored(t, l, audit.LoginSucceeded)[0].Event.Session
	reuse := stored(t, l, audit.TokenReuse)
	if len(reuse) != 1 {
		t.Fatalf("token.reuse_detected records: %d", len(reuse))
	}
	if got := reuse[0].Event.Session; got != session {
		t.Errorf("token.reuse_detected (which revoked the session's grant) has session %q, want %q; audit export --session shows %v",
			got, session, sessionTypes(t, l, session))
	}
}

// TestMetadataClientChangeRecorded: a client ID metadata
// document's client is recorded (client.registered) with its redirect
// URIs when first seen. When its document later names other redirect
// URIs, the stored client is changed to them, and the trail says so
// (client.updated, before → after): codes then go to an address the trail
// recorded for that client.
func TestMetadataClientChangeRecorded(t *testing.T) {
	m := newMetadataServer(t)
	h := metadataHarness(t, m)
	l := h.durableAudit()
	doc := map[string]any{"client_name": "Claude", "redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}}
	m.docs["/client.json"] = jsonDoc(doc)
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	resp := h.authorize(b, metadataAuthz(id))
	resp.Body.Close()
	if got := stored(t, l, audit.ClientRegistered); len(got) != 1 {
		t.Fatalf("client.registered records: %d", len(got))
	}
	// The document changes; once its copy expires, the next use takes it.
	const moved = "http://127.0.0.1/elsewhere"
	doc2 := map[string]any{"client_name": "Claude", "redirect_uris": []string{moved},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}}
	m.docs["/client.json"] = jsonDoc(doc2)
	h.clock.Advance(25 * time.Hour)
	resp = h.authorize(b, authParams("client_id", id, "redirect_uri", moved))
	resp.Body.Close()
	c, err := h.db.Clients().Get(t.Context(), id)
	if err != nil || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != moved {
		t.Fatalf("the stored client did not take the new document: %+v %v", c, err)
	}
	ups := stored(t, l, audit.ClientUpdated)
	if len(ups) != 1 {
		t.Fatalf("client %s now redirects to %s: %d client.updated records, want 1", id, moved, len(ups))
	}
	ev := ups[0].Event
	before, _ := ev.Detail["before"].(map[string]any)
	after, _ := ev.Detail["after"].(map[string]any)
	if ev.Agent != id || !strings.Contains(fmt.Sprint(before["redirect_uris"]), "http://127.0.0.1/cb") || !strings.Contains(fmt.Sprint(after["redirect_uris"]), moved) {
		t.Errorf("client.updated: %+v", ev)
	}
	// The same document again changes nothing, and records nothing.
	h.clock.Advance(25 * time.Hour)
	resp = h.authorize(b, authParams("client_id", id, "redirect_uri", moved))
	resp.Body.Close()
	if n := len(stored(t, l, audit.ClientUpdated)); n != 1 {
		t.Errorf("an unchanged document: %d client.updated records", n)
	}
}
