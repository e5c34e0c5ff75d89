package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestGuessesDoNotLockOutAKnownDevice: strangers' wrong passwords for
// alice lock her username, but the browser she signed in on before still
// signs her in: its failures are its own. A browser without that (a new
// one, or one whose cookie names another person, or was forged) is
// locked out as before, and a known device guessing wrong runs into a
// limit of its own. Before, a few wrong passwords a window from anyone
// kept alice out for as long as they went on.
func TestGuessesDoNotLockOutAKnownDevice(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 100 })
	home := h.browser()
	if resp := h.login(home, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's first sign-in: %d", resp.StatusCode)
	}
	bobs := h.browser()
	if resp := h.login(bobs, "bob", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's sign-in: %d", resp.StatusCode)
	}
	// Strangers guess at alice's password until her username is locked.
	for range 4 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	if resp := h.login(h.browser(), "alice", pw, nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Fatalf("a new browser with the right password: %d, want the lockout", resp.StatusCode)
	}
	// Bob's browser is known, for bob: as alice it is a stranger's.
	if resp := h.login(bobs, "alice", pw, nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Fatalf("bob's browser as alice: %d, want the lockout", resp.StatusCode)
	}
	// A cookie not signed by the tenant is no device's.
	forged := h.browser()
	srv, _ := url.Parse(h.srv.URL)
	forged.Jar.SetCookies(srv, []*http.Cookie{{Name: h.p.cookieName(deviceCookie), Path: "/",
		Value: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImp0aSI6IngiLCJleHAiOjk5OTk5OTk5OTl9."}})
	if resp := h.login(forged, "alice", pw, nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Fatalf("a forged device cookie: %d, want the lockout", resp.StatusCode)
	}
	// Alice's own browser signs her in.
	if resp := h.login(home, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		body(t, resp)
		t.Fatalf("alice on her own browser: %d, want signed in", resp.StatusCode)
	}
	if ev, _ := h.audit.last(audit.LoginSucceeded); ev.Actor != "alice" {
		t.Errorf("the sign-in recorded as %+v", ev)
	}
	// Her browser guessing wrong is throttled on its own.
	for range 3 {
		body(t, h.login(home, "alice", "wrong", nil))
	}
	resp := h.login(home, "alice", pw, nil)
	if html := body(t, resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(html, throttledLogin) {
		t.Fatalf("a known device past its own limit: %d", resp.StatusCode)
	}
}
