package identity

// Sign-in sessions end after an hour without use (the idle timeout), as
// well as 12 hours after the sign-in (the absolute bound). These tests
// drive a browser and an app through the provider and move its clock.

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// noIdleTimeout turns the idle timeout off, for tests whose sessions wait
// hours unused for reasons of their own (a cached document going stale).
func noIdleTimeout(p *Provider) { p.SessionIdleTimeout = -1 }

// logouts returns the logout events recorded so far.
func (h *harness) logouts() []audit.Event {
	h.audit.mu.Lock()
	defer h.audit.mu.Unlock()
	var out []audit.Event
	for _, e := range h.audit.events {
		if e.Type == audit.Logout {
			out = append(out, e)
		}
	}
	return out
}

// signedInStill reports whether browser b is signed in at h: an
// authorization request with prompt=none gets a code.
func (h *harness) signedInStill(b *http.Client) bool {
	h.t.Helper()
	resp := h.authorize(b, authParams("prompt", "none"))
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		h.t.Fatalf("authorize prompt=none: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	switch q := u.Query(); {
	case q.Get("code") != "":
		return true
	case q.Get("error") == "login_required":
		return false
	default:
		h.t.Fatalf("authorize prompt=none: %v", q)
		return false
	}
}

// replica is a second Provider on h's store, with the same issuer, keys,
// clock and audit recorder, behind its own server: another replica. A
// browser's cookie for 127.0.0.1 goes to both.
func replica(h *harness) *harness {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	p2 := &Provider{Issuer: h.p.Issuer, Store: h.db, Keys: h.p.Keys, Audit: h.audit, Now: h.clock.Now,
		Resources: h.p.Resources, Scopes: h.p.Scopes, PasswordParams: &cheap}
	p2.Mount(mux)
	return &harness{t: h.t, p: p2, db: h.db, mux: mux, srv: srv, audit: h.audit, clock: h.clock}
}

// TestSessionUsedWithinIdlePeriodSlides: a person who comes back to the
// provider within the idle period (an hour) stays signed in however long
// the session lasts (up to its 12 hours), and the grants their session gave
// without offline_access keep working; nothing records a sign-out. The
// uses alternate between two replicas: what one saw, the other knows.
func TestSessionUsedWithinIdlePeriodSlides(t *testing.T) {
	h := newHarness(t)
	other := replica(h)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	if online.Refresh == "" {
		t.Fatalf("no refresh token: %v", online.JSON)
	}
	for i := range 6 { // 4½ hours in all
		h.clock.Advance(45 * time.Minute)
		at := h
		if i%2 == 1 {
			at = other
		}
		if !at.signedInStill(b) {
			t.Fatalf("after %v, used every 45 minutes: signed out", time.Duration(i+1)*45*time.Minute)
		}
	}
	if l := h.logouts(); len(l) != 0 {
		t.Errorf("sign-outs recorded: %+v", l)
	}
	if r := refresh(h, online.Refresh); r.Status != http.StatusOK {
		t.Errorf("refresh of the grant without offline_access: %d %s", r.Status, r.Error)
	}
}

// TestIdleSessionEnds: a session left alone for the idle period ends. The
// browser is asked to sign in again; the end is recorded once, as a
// logout with the reason idle_timeout; the grants the session gave
// without offline_access end with it (as at a sign-out), those with
// offline_access stand.
func TestIdleSessionEnds(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	offline := h.redeem(h.code(b, authParams("scope", "openid offline_access")))
	if online.Refresh == "" || offline.Refresh == "" {
		t.Fatalf("refresh tokens: %q %q", online.Refresh, offline.Refresh)
	}
	sid, _ := claims(t, online.ID)["sid"].(string)
	h.clock.Advance(59 * time.Minute)
	h.clock.Advance(time.Minute)
	if h.signedInStill(b) {
		t.Fatal("an hour without use: still signed in")
	}
	resp := h.authorize(b, authParams())
	body(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/login?")) {
		t.Errorf("authorize after the idle end: %d %q, want the login page", resp.StatusCode, loc)
	} else if resp, err := b.Get(loc); err != nil {
		t.Fatal(err)
	} else if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, `name="password"`) {
		t.Errorf("the login page: %d", resp.StatusCode)
	}
	l := h.logouts()
	if len(l) != 1 {
		t.Fatalf("logouts recorded: %+v, want one", l)
	}
	if e := l[0]; e.Session != sid || e.Actor != "alice" || e.Status != "ok" || e.Detail["reason"] != "idle_timeout" {
		t.Errorf("logout recorded: %+v", e)
	}
	if r := refresh(h, online.Refresh); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Errorf("refresh without offline_access after the idle end: %d %s, want invalid_grant", r.Status, r.Error)
	}
	if r := refresh(h, offline.Refresh); r.Status != http.StatusOK {
		t.Errorf("refresh with offline_access after the idle end: %d %s", r.Status, r.Error)
	}
	// Signing in again gives a new session, which works.
	if resp := h.login(b, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in again: %d", resp.StatusCode)
	}
	if !h.signedInStill(b) {
		t.Error("signed in again: not signed in")
	}
}

// TestIdleSessionEndsItsGrantsOnRefresh: an app of the sign-in
// refreshing its tokens is the person's use of it, as a page view is (an
// agent at work for them: a chat that runs past the hour keeps its
// access); a grant without offline_access (access only while the person
// is signed in, OpenID Connect Core section 11) ends once neither the
// browser nor the app has used the session for the idle period, and
// nobody came back to the browser to notice. The refusal ends the session
// and records it.
func TestIdleSessionEndsItsGrantsOnRefresh(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	h.clock.Advance(50 * time.Minute)
	r := refresh(h, online.Refresh)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh within the idle period: %d %s", r.Status, r.Error)
	}
	// 100 minutes after the browser's last use, 50 after the app's.
	h.clock.Advance(50 * time.Minute)
	if r = refresh(h, r.Refresh); r.Status != http.StatusOK {
		t.Fatalf("refresh 50 minutes after the app's last: %d %s", r.Status, r.Error)
	}
	if !h.signedInStill(b) {
		t.Fatal("the app's refreshes did not keep the sign-in from going idle")
	}
	h.clock.Advance(70 * time.Minute)
	if in := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Refresh}}); in.JSON["active"] != false {
		t.Errorf("introspection after the idle end: %v, want inactive", in.JSON)
	}
	if x := refresh(h, r.Refresh); x.Status != http.StatusBadRequest || x.Error != "invalid_grant" {
		t.Errorf("refresh 70 minutes after the session's last use: %d %s, want invalid_grant", x.Status, x.Error)
	}
	if l := h.logouts(); len(l) != 1 || l[0].Detail["reason"] != "idle_timeout" {
		t.Errorf("logouts recorded: %+v, want one for the idle timeout", l)
	}
	if h.signedInStill(b) {
		t.Error("the browser is still signed in")
	}
}

// TestSessionUseIsNotWrittenOnEveryRequest: the last use is stored so that
// replicas agree, but a page view writes it only when the stored one is a
// few minutes old: most page views read the session and write nothing.
func TestSessionUseIsNotWrittenOnEveryRequest(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	lastSeen := func() int64 {
		t.Helper()
		var v int64
		if err := h.db.SQL().QueryRow("SELECT last_seen FROM login_sessions").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	signedIn := lastSeen()
	if want := h.clock.Now().UnixMicro(); signedIn != want {
		t.Fatalf("last seen at the sign-in: %d, want %d", signedIn, want)
	}
	for range 4 {
		h.clock.Advance(time.Minute)
		if !h.signedInStill(b) {
			t.Fatal("signed out")
		}
	}
	if got := lastSeen(); got != signedIn {
		t.Errorf("last seen written within minutes of the last write: %d, want %d", got, signedIn)
	}
	h.clock.Advance(time.Minute)
	if !h.signedInStill(b) {
		t.Fatal("signed out")
	}
	if got, want := lastSeen(), h.clock.Now().UnixMicro(); got != want {
		t.Errorf("last seen five minutes on: %d, want %d", got, want)
	}
}

// TestIdleSessionStillEndsAtItsAbsoluteBound: use does not stretch a
// session past the 12 hours from its sign-in.
func TestIdleSessionStillEndsAtItsAbsoluteBound(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-30*time.Minute; elapsed += 30 * time.Minute {
		h.clock.Advance(30 * time.Minute)
		if !h.signedInStill(b) {
			t.Fatalf("signed out after %v of steady use", elapsed+30*time.Minute)
		}
	}
	h.clock.Advance(30 * time.Minute)
	if h.signedInStill(b) {
		t.Error("12 hours after the sign-in: still signed in")
	}
}

// TestSessionStoredBeforeUsesWereKept: a session stored before the store
// kept last uses (its last_seen 0, as the migration leaves it) is not
// taken for idle when the new release starts: its first use records one,
// and the idle timeout runs from there.
func TestSessionStoredBeforeUsesWereKept(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	if _, err := h.db.SQL().Exec("UPDATE login_sessions SET last_seen = 0"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	if !h.signedInStill(b) {
		t.Fatal("a session of before the upgrade, first used two hours on: signed out")
	}
	h.clock.Advance(time.Hour)
	if h.signedInStill(b) {
		t.Error("an hour after its first use since: still signed in")
	}
	if l := h.logouts(); len(l) != 1 || l[0].Detail["reason"] != "idle_timeout" {
		t.Errorf("logouts recorded: %+v", l)
	}
}

// TestRefusedRefreshIsNoUse: only a refresh that issued tokens is the
// person's use of the sign-in; one refused (here a scope beyond the grant)
// keeps nothing alive, and the session ends an hour after its last use.
func TestRefusedRefreshIsNoUse(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	h.clock.Advance(50 * time.Minute)
	if r := refresh(h, online.Refresh, "scope", "openid offline_access"); r.Status != http.StatusBadRequest || r.Error != "invalid_scope" {
		t.Fatalf("refresh beyond the grant: %d %s, want invalid_scope", r.Status, r.Error)
	}
	h.clock.Advance(20 * time.Minute)
	if r := refresh(h, online.Refresh); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Errorf("refresh 70 minutes after the last use, 20 after a refused refresh: %d %s, want invalid_grant", r.Status, r.Error)
	}
}
