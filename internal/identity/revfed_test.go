package identity

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRevfedCallbackFloodBounded: anyone can call a connection's callback
// (no cookie, any state). Each refusal is a login.failed record; like
// failed password sign-ins, a flood of them from one address must stop
// growing the trail once the address is throttled.
func TestRevfedCallbackFloodBounded(t *testing.T) {
	h, _ := fedHarness(t)
	b := h.browser()
	const n = 250
	for i := 0; i < n; i++ {
		resp, err := b.Get(h.url("/login/okta/callback?state=forged&code=x"))
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
	}
	h.audit.mu.Lock()
	var got []audit.Event
	for _, e := range h.audit.events {
		if e.Type == audit.LoginFailed {
			got = append(got, e)
		}
	}
	h.audit.mu.Unlock()
	if limit := orDefault(h.p.MaxFailuresPerIP, 100) + 1; len(got) > limit {
		t.Fatalf("%d unauthenticated callback requests wrote %d login.failed records (password sign-ins stop at %d)", n, len(got), limit)
	}
	if last := got[len(got)-1]; last.Detail["reason"] != "throttled" || last.Detail["cause"] != "state_mismatch" {
		t.Errorf("the last record: %+v, want reason throttled, cause state_mismatch", last.Detail)
	}
}

// TestRevfedUpstreamErrorIsAReasonClass: the error parameter of the
// callback is the caller's text (an attacker has only to start a sign-in
// in their own browser and call the callback with their state). The
// audit reason must stay a class, not that text.
func TestRevfedUpstreamErrorIsAReasonClass(t *testing.T) {
	h, up := fedHarness(t)
	b := h.browser()
	resp, _ := b.Get(h.url("/login"))
	resp = pressOkta(t, h, b, body(t, resp))
	body(t, resp)
	toUp := mustQuery(t, resp.Header.Get("Location"))
	evil := "access_denied\r\nlogin.succeeded actor=admin <b>x</b>\x1b[2J日本"
	cb := h.url("/login/okta/callback?" + url.Values{"state": {toUp.Get("state")}, "iss": {up.srv.URL},
		"error": {evil}, "error_description": {"<script>alert(1)</script>"}}.Encode())
	resp, err := b.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "<b>x</b>") {
		t.Errorf("upstream text rendered as markup:\n%s", page)
	}
	if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "upstream_other" {
		t.Errorf("audit reason is the caller's text: %q", ev.Detail["reason"])
	}
	// A code RFC 6749 or OpenID Connect defines is kept as the class.
	resp, _ = b.Get(h.url("/login"))
	resp = pressOkta(t, h, b, body(t, resp))
	body(t, resp)
	toUp = mustQuery(t, resp.Header.Get("Location"))
	resp, _ = b.Get(h.url("/login/okta/callback?" + url.Values{"state": {toUp.Get("state")}, "iss": {up.srv.URL},
		"error": {"access_denied"}}.Encode()))
	body(t, resp)
	if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != http.StatusForbidden || ev.Detail["reason"] != "upstream_access_denied" {
		t.Errorf("access_denied: %d %q", resp.StatusCode, ev.Detail["reason"])
	}
}

// TestRevfedIssuerIsPartOfTheLink: an OpenID subject is unique only
// within its issuer. A connection re-pointed at another upstream (a new
// IdP under the old connection name) must not hand an existing user, with
// the roles assigned here, to whoever has the same sub at the new issuer.
func TestRevfedIssuerIsPartOfTheLink(t *testing.T) {
	h, _ := fedHarness(t)
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	// Roles assigned to okta:00u1 here.
	if err := h.db.Users().Update(t.Context(), "okta:00u1", func(u store.User) (store.User, error) {
		u.Roles = append(u.Roles, "admin")
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	// The connection now points at another provider, whose person 00u1 is
	// someone else.
	other := newFakeUpstream(t)
	other.claims = map[string]any{"sub": "00u1", "preferred_username": "mallory"}
	c := h.p.connections()[0]
	// As a tenant file applied with the connection's issuer changed
	// reaches a running server (SetConnections).
	if err := h.p.SetConnections([]*Connection{{Name: c.Name, DisplayName: c.DisplayName, Issuer: other.srv.URL, ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, RolesClaim: c.RolesClaim, RoleMap: c.RoleMap, DefaultRoles: c.DefaultRoles}}); err != nil {
		t.Fatal(err)
	}
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if ev, ok := h.audit.last(audit.LoginSucceeded); resp.StatusCode == http.StatusSeeOther && ok && ev.Actor == "okta:00u1" {
		t.Errorf("the sub 00u1 of issuer %s signed in as the user of issuer %s's 00u1, roles %v",
			other.srv.URL, c.Issuer, ev.Detail["roles"])
	}
}

// TestRevfedIDTokenNeedsIat: OpenID Connect Core §2 makes iat REQUIRED.
func TestRevfedIDTokenNeedsIat(t *testing.T) {
	h, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { u.tamper = func(c map[string]any) { delete(c, "iat") } })
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if resp.StatusCode == http.StatusSeeOther {
		t.Errorf("an ID token without iat was accepted")
	}
}

// Held: a disabled federated user cannot sign in through federation, and
// a state issued for one connection is refused at another's callback.
func TestRevfedHeldDisabledAndMixup(t *testing.T) {
	h, _ := fedHarness(t)
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if err := h.db.Users().Update(t.Context(), "okta:00u1", func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != http.StatusForbidden || ev.Detail["reason"] != "account" {
		t.Errorf("disabled federated user: %d %+v", resp.StatusCode, ev)
	}

	// Two connections; okta's answer delivered at the other's callback.
	other := newFakeUpstream(t)
	if err := h.p.SetConnections(append(h.p.connections(), &Connection{Name: "other", Issuer: other.srv.URL, ClientID: "gatehouse", ClientSecret: "up-secret"})); err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	r2, _ := b.Get(h.url("/login"))
	r2 = pressOkta(t, h, b, body(t, r2))
	body(t, r2)
	r2, _ = b.Get(r2.Header.Get("Location"))
	body(t, r2)
	cb := strings.Replace(r2.Header.Get("Location"), "/login/okta/callback", "/login/other/callback", 1)
	r2, _ = b.Get(cb)
	body(t, r2)
	if ev, _ := h.audit.last(audit.LoginFailed); r2.StatusCode != 400 || (ev.Detail["reason"] != "state_unknown" && ev.Detail["reason"] != "issuer_mismatch") {
		t.Errorf("mix-up: %d %+v", r2.StatusCode, ev)
	}
}

type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// Held: ID tokens naming a kid the upstream's JWKS lacks refetch the JWKS
// at most once a minute.
func TestRevfedHeldUnknownKidRefetchBounded(t *testing.T) {
	ct := &countingTransport{n: map[string]int{}}
	h, up := fedHarness(t, func(p *Provider) { p.Connections[0].HTTPClient = &http.Client{Transport: ct} })
	up.set(func(u *fakeUpstream) { u.header = map[string]any{"alg": "RS256", "kid": "k9"} })
	for i := 0; i < 5; i++ {
		body(t, fedSignIn(t, h, h.browser(), authParams()))
	}
	ct.mu.Lock()
	n := ct.n["/jwks"]
	ct.mu.Unlock()
	if n != 1 {
		t.Errorf("JWKS fetched %d times for 5 unknown-kid tokens within a minute", n)
	}
	h.clock.Advance(61 * time.Second)
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	ct.mu.Lock()
	n = ct.n["/jwks"]
	ct.mu.Unlock()
	if n != 2 {
		t.Errorf("JWKS fetched %d times after a minute, want 2", n)
	}
}

// TestFederatedStartsBoundedButSignInsGiveThemBack: each federated
// start stores a row, so the starts an address leaves pending are bounded
// (MaxFailuresPerIP a window, then 429); a sign-in that completes gives
// its start back, so an office behind one address is not locked out by
// its own people signing in.
func TestFederatedStartsBoundedButSignInsGiveThemBack(t *testing.T) {
	h, _ := fedHarness(t, func(p *Provider) { p.MaxFailuresPerIP = 5 })
	for i := 0; i < 8; i++ {
		resp := fedSignIn(t, h, h.browser(), authParams())
		body(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d of one address: %d", i+1, resp.StatusCode)
		}
	}
	start := func() int {
		b := h.browser()
		resp, err := b.Get(h.url("/login"))
		if err != nil {
			t.Fatal(err)
		}
		resp = pressOkta(t, h, b, body(t, resp))
		body(t, resp)
		return resp.StatusCode
	}
	for i := 0; i < 5; i++ {
		if code := start(); code != http.StatusSeeOther {
			t.Fatalf("abandoned start %d: %d", i+1, code)
		}
	}
	if code := start(); code != http.StatusTooManyRequests {
		t.Errorf("a start past 5 left pending: %d, want 429", code)
	}
}
