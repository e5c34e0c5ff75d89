package identity

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// These tests settle, as a browser on the internet sees them, what a
// person's session at the login page promises: its cookie's attributes, a
// new session at every sign-in, and an end that holds on the server.

// sessionCookieOf is the cookie of the name a response sets last (a
// browser applies them in order), or nil.
func sessionCookieOf(resp *http.Response, name string) *http.Cookie {
	var last *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			last = c
		}
	}
	return last
}

// isSignedIn reports whether a request with the cookie reaches the
// signed-in page rather than the login page.
func (h *harness) isSignedIn(c *http.Cookie) bool {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url(pathSignedIn), nil)
	req.AddCookie(c)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	body(h.t, resp)
	return resp.StatusCode == http.StatusOK
}

// TestSessionCookieOnHTTPSIssuer: under an https issuer the session
// cookie a password sign-in sets is __Host- prefixed, Secure, HttpOnly,
// SameSite=Lax, Path=/, and lives no longer than the session.
func TestSessionCookieOnHTTPSIssuer(t *testing.T) {
	h := newHarness(t)
	p := &Provider{Issuer: "https://id.example", Store: h.db, Keys: h.p.Keys, Now: h.clock.Now, PasswordParams: &cheap}
	mux := http.NewServeMux()
	p.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	csrfCookie := sessionCookieOf(rec.Result(), "__Host-gh_login_csrf")
	if csrfCookie == nil {
		t.Fatal("no CSRF cookie")
	}
	f := url.Values{"username": {"alice"}, "password": {pw}, "csrf": {csrfOf(t, rec.Body.String())}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrfCookie)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", rec.Code)
	}
	c := sessionCookieOf(rec.Result(), "__Host-gh_session")
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" ||
		c.MaxAge <= 0 || time.Duration(c.MaxAge)*time.Second > defaultSessionTTL {
		t.Fatalf("session cookie %+v", c)
	}
}

// TestNoSessionFixation: a session cookie planted in the victim's browser
// before they sign in (the attacker's own session, or a value of their
// choosing) is not the one the victim ends up signed in on, and the
// attacker's copy signs in nobody afterwards.
func TestNoSessionFixation(t *testing.T) {
	h := newHarness(t)
	attacker := h.signedIn("bob")
	u, _ := url.Parse(h.srv.URL)
	var planted *http.Cookie
	for _, c := range attacker.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			planted = c
		}
	}
	if planted == nil || !h.isSignedIn(planted) {
		t.Fatal("the attacker has no session to plant")
	}
	for _, value := range []string{planted.Value, "ghs_chosen-by-the-attacker-0123456789abcdef"} {
		victim := h.browser()
		victim.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_session", Value: value, Path: "/"}})
		resp := h.login(victim, "alice", pw, nil)
		body(t, resp)
		got := sessionCookieOf(resp, "gh_session")
		if resp.StatusCode != http.StatusSeeOther || got == nil || got.Value == value || got.Value == "" {
			t.Fatalf("sign-in over a planted cookie: %d, cookie %+v", resp.StatusCode, got)
		}
		if h.isSignedIn(&http.Cookie{Name: "gh_session", Value: value}) {
			t.Errorf("the planted cookie %.12s… still signs someone in after the victim's sign-in", value)
		}
		if !h.isSignedIn(got) {
			t.Error("the victim's new session does not work")
		}
	}
}

// TestCopiedCookieDiesAtSignOutAndExpiry: signing out ends the session on
// the server, so a copy of the cookie taken before stops working; and a
// session ends at its lifetime, however recently it was used.
func TestCopiedCookieDiesAtSignOutAndExpiry(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	u, _ := url.Parse(h.srv.URL)
	var copied *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			copied = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	if copied == nil || !h.isSignedIn(copied) {
		t.Fatal("no working session cookie")
	}
	resp, err := b.Get(h.url(pathSignedIn))
	if err != nil {
		t.Fatal(err)
	}
	html := body(t, resp)
	resp, err = b.PostForm(h.url(pathLogout), formFields(t, html, h.url(pathLogout)))
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, "You are signed out") {
		t.Fatalf("sign-out: %d\n%s", resp.StatusCode, html)
	}
	if h.isSignedIn(copied) {
		t.Error("a copy of the cookie taken before signing out still signs in")
	}

	// The lifetime: used a minute before it ends, the session still ends.
	b = h.signedIn("alice")
	var c *http.Cookie
	for _, x := range b.Jar.Cookies(u) {
		if x.Name == "gh_session" {
			c = &http.Cookie{Name: x.Name, Value: x.Value}
		}
	}
	// Used every half hour (within the idle timeout), the last time a
	// minute before the end.
	for left := defaultSessionTTL; left > time.Minute; {
		step := min(30*time.Minute, left-time.Minute)
		h.clock.Advance(step)
		left -= step
		if !h.isSignedIn(c) {
			t.Fatalf("the session ended %v before its lifetime", left)
		}
	}
	h.clock.Advance(2 * time.Minute)
	if h.isSignedIn(c) {
		t.Error("the session outlives its lifetime")
	}
}

// TestDisabledPersonsSessionStops: a person disabled in the store (even by
// a change that did not end their sessions) cannot use the session they
// had: not for the signed-in page, not for an authorization code; and
// cannot sign in again with the right password.
func TestDisabledPersonsSessionStops(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("bob")
	u, _ := url.Parse(h.srv.URL)
	var c *http.Cookie
	for _, x := range b.Jar.Cookies(u) {
		if x.Name == "gh_session" {
			c = &http.Cookie{Name: x.Name, Value: x.Value}
		}
	}
	if err := h.db.Users().Update(t.Context(), "bob", func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if h.isSignedIn(c) {
		t.Error("a disabled person's session still shows them signed in")
	}
	resp := h.authorize(b, authParams())
	body(t, resp)
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, webRedirect) && strings.Contains(loc, "code=") {
		t.Errorf("a disabled person's session got a code: %s", loc)
	}
	resp = h.login(h.browser(), "bob", pw, nil)
	if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, badLogin) {
		t.Errorf("a disabled person signs in with the right password: %d", resp.StatusCode)
	}
}
