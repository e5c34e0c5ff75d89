package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// count is how many events of type typ the trail holds.
func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A token exchange asked by a public client needs no secret: its client
// ID is public (or self-registered in a moment), and every refusal of it
// was a durable audit record, a commit of the hash chain. Anyone could
// write records without end and fill the disk. Now an address's recorded
// refusals are bounded per window (MaxFailuresPerIP, ThrottleWindow): the
// refusals within the bound are recorded as before, the one past it is
// recorded marked as throttled, and the further ones are answered 429
// temporarily_unavailable and not recorded, until the window ends. Another
// address, and an exchange that succeeds from the flooded one, are not
// affected.
func TestRefusalFloodIsBoundedPerAddress(t *testing.T) {
	const limit, flood = 5, 40
	h := newHarness(t, behindProxy, func(p *Provider) { p.MaxFailuresPerIP = limit })
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	exchangeFrom := func(from, clientID, secret string, f url.Values) tokenResult {
		if secret == "" {
			f.Set("client_id", clientID)
		}
		req, _ := http.NewRequest(http.MethodPost, h.url("/token"), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		if secret != "" {
			req.SetBasicAuth(clientID, secret)
		}
		return h.do(req)
	}
	before := h.audit.count(audit.TokenExchanged)
	for i := range flood {
		r := exchangeFrom("192.0.2.7", "native", "", exchangeForm("a.b.c"))
		switch {
		case i < limit && r.Error != "unauthorized_client":
			t.Fatalf("refusal %d: %d %v, want unauthorized_client", i+1, r.Status, r.JSON)
		case i >= limit && (r.Status != http.StatusTooManyRequests || r.Error != "temporarily_unavailable" || r.Header.Get("Retry-After") == ""):
			t.Fatalf("refusal %d, past the bound: %d %v (Retry-After %q), want 429 temporarily_unavailable",
				i+1, r.Status, r.JSON, r.Header.Get("Retry-After"))
		}
	}
	if n := h.audit.count(audit.TokenExchanged) - before; n != limit+1 {
		t.Fatalf("%d refused exchanges from one address wrote %d records, want %d (the bound, and one saying it was reached)",
			flood, n, limit+1)
	}
	ev, _ := h.audit.last(audit.TokenExchanged)
	if ev.Status != "refused" || ev.Agent != "native" || ev.RemoteAddr != "192.0.2.7" || ev.Detail["throttled"] != true {
		t.Errorf("the record of the refusal that reached the bound: %+v", ev)
	}

	// Another address is not affected.
	if r := exchangeFrom("198.51.100.9", "native", "", exchangeForm("a.b.c")); r.Error != "unauthorized_client" {
		t.Errorf("a refusal from another address: %d %v, want unauthorized_client", r.Status, r.JSON)
	}
	// Nor is an exchange that is allowed, from the flooded address.
	if r := exchangeFrom("192.0.2.7", "agent", "agent-secret", exchangeForm(user.Access)); r.Status != http.StatusOK {
		t.Errorf("an allowed exchange from the flooded address: %d %v", r.Status, r.JSON)
	}
	// The next window records again.
	h.clock.Advance(h.p.window())
	before = h.audit.count(audit.TokenExchanged)
	if r := exchangeFrom("192.0.2.7", "native", "", exchangeForm("a.b.c")); r.Error != "unauthorized_client" {
		t.Errorf("a refusal in the next window: %d %v, want unauthorized_client", r.Status, r.JSON)
	}
	if n := h.audit.count(audit.TokenExchanged) - before; n != 1 {
		t.Errorf("a refusal in the next window wrote %d records, want 1", n)
	}
}

// A used refresh token (or code) stays on record until its grant ends,
// and every presentation of it was a token.reuse record; one presented by
// another client, a token.wrong_client record. Whoever holds one (the
// person who signed in, through a client they registered themselves)
// could replay it without end, each a commit of the trail. These
// refusals are bounded per address as a refused exchange is; the grant
// is revoked all the same.
func TestReplayFloodIsBoundedPerAddress(t *testing.T) {
	const limit, flood = 4, 30
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerIP = limit })
	first := h.userTokens()
	if r := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}}); r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %v", r.Status, r.JSON)
	}
	replay := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}}
	for i := range flood {
		r := h.token("web", "web-secret", replay)
		if i < limit && r.Error != "invalid_grant" || i >= limit && r.Status != http.StatusTooManyRequests {
			t.Fatalf("replay %d: %d %v", i+1, r.Status, r.JSON)
		}
	}
	if n := h.audit.count(audit.TokenReuse); n != limit+1 {
		t.Errorf("%d replays wrote %d token.reuse records, want %d", flood, n, limit+1)
	}
	if ev, _ := h.audit.last(audit.TokenReuse); ev.Detail["throttled"] != true || ev.Detail["grant_id"] == nil {
		t.Errorf("the record of the replay that reached the bound: %+v", ev)
	}
	// Another client presenting it is refused with the same bound, the
	// address being past it already: no record at all.
	before := len(h.audit.types())
	for range flood {
		if r := h.token("native", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}}); r.Status != http.StatusTooManyRequests {
			t.Fatalf("another client's refresh token, past the bound: %d %v", r.Status, r.JSON)
		}
	}
	if n := len(h.audit.types()) - before; n != 0 {
		t.Errorf("%d presentations by another client past the bound wrote %d records, want none", flood, n)
	}
	// The next window: recorded again, once each.
	h.clock.Advance(h.p.window())
	h.token("native", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}})
	if n := h.audit.count(audit.TokenWrongClient); n != 1 {
		t.Errorf("token.wrong_client records in the next window: %d, want 1", n)
	}
}

// Revoking a refresh token whose grant is revoked already changes
// nothing, yet each such request wrote a token.revoked record: a client
// holding one refresh token could grow the trail by one commit per
// request without end. Only the revocation that revokes is recorded now;
// the repeats are answered 200 as RFC 7009 asks, and write nothing.
func TestRepeatedRevocationIsRecordedOnce(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	for i := range 20 {
		if r := h.post("/revoke", "web", "web-secret", url.Values{"token": {user.Refresh}}); r.Status != http.StatusOK {
			t.Fatalf("revocation %d: %d %v", i+1, r.Status, r.JSON)
		}
	}
	if n := h.audit.count(audit.TokenRevoked); n != 1 {
		t.Errorf("20 revocations of one refresh token wrote %d token.revoked records, want 1", n)
	}
	if r := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.Refresh}}); r.Error != "invalid_grant" {
		t.Errorf("the revoked refresh token: %d %v", r.Status, r.JSON)
	}
}

// A signed-in person may answer the consent form "deny" as often as they
// like (the form's CSRF token is their session's, good for every post),
// and each answer was a consent.denied record. These refusals are bounded
// per address too: past the bound the client is sent
// temporarily_unavailable, and nothing is written.
func TestConsentDenialFloodIsBoundedPerAddress(t *testing.T) {
	const limit, flood = 3, 20
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerIP = limit })
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, nativeParams()))
	for i := range flood {
		resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
		if err != nil {
			t.Fatal(err)
		}
		want := "access_denied"
		if i >= limit {
			want = "temporarily_unavailable"
		}
		if q := redirectQuery(t, resp, nativeRedirect); q.Get("error") != want {
			t.Fatalf("denial %d: %v, want %s", i+1, q, want)
		}
	}
	if n := h.audit.count(audit.ConsentDenied); n != limit+1 {
		t.Errorf("%d denials wrote %d consent.denied records, want %d", flood, n, limit+1)
	}
	// Allowing still works, and is recorded.
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	if q := redirectQuery(t, resp, nativeRedirect); q.Get("code") == "" {
		t.Errorf("allow from the same address: %v", q)
	}
	if _, ok := h.audit.last(audit.ConsentGranted); !ok {
		t.Error("no consent.granted record")
	}
}
