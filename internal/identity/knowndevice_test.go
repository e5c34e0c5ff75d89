package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
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

// TestADeviceIsNotKnownPastAPasswordChangeOrANewPerson: a browser that
// signed in with alice's password before an admin changed it is a
// stranger's for her new one, and a browser of a removed bob is a
// stranger's for the new bob of the same name. Before, such a browser kept
// its device: whoever had learnt the old password (the reason it was
// changed) and signed in from a fresh browser again and again held a
// device for each, each with its own limit of guesses at the new password
// that the username's lockout did not stop.
func TestADeviceIsNotKnownPastAPasswordChangeOrANewPerson(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 100 })
	ctx := t.Context()
	thief, oldBob := h.browser(), h.browser()
	for _, s := range []struct {
		b    *http.Client
		user string
	}{{thief, "alice"}, {oldBob, "bob"}} {
		if resp := h.login(s.b, s.user, pw, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s's sign-in: %d", s.user, resp.StatusCode)
		}
	}
	err := h.db.InTx(ctx, func(tx store.Tenant) error {
		if err := tx.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
			u.PasswordHash = hash(t, "a new password")
			return u, nil
		}); err != nil {
			return err
		}
		_, err := tx.EndUser(ctx, "alice", h.clock.Now().Add(24*time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	if err := h.db.Users().Create(ctx, store.User{Username: "bob", PasswordHash: hash(t, "the new bob's")}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		b    *http.Client
		user string
	}{{thief, "alice"}, {oldBob, "bob"}} {
		// Strangers lock the username; the old browser is one of them.
		for range 4 {
			body(t, h.login(h.browser(), s.user, "wrong", nil))
		}
		resp := h.login(s.b, s.user, "a guess", nil)
		if html := body(t, resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(html, throttledLogin) {
			t.Errorf("%s's old browser guessing past the lockout: %d, want the lockout", s.user, resp.StatusCode)
		}
	}
	// Alice, signed in with her new password once the lockout is over,
	// has a known device again.
	h.clock.Advance(h.p.window())
	home := h.browser()
	if resp := h.login(home, "alice", "a new password", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's sign-in with her new password: %d", resp.StatusCode)
	}
	for range 4 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	if resp := h.login(home, "alice", "a new password", nil); resp.StatusCode != http.StatusSeeOther {
		body(t, resp)
		t.Fatalf("alice on her own browser after the change: %d, want signed in", resp.StatusCode)
	}
}

// TestADeviceStaysKnownAcrossAKeyRotation: a device cookie is believed
// for its 90 days, whatever happened to the key that signed it: after
// `keys rotate --now` withdrew it, alice's browser still signs her in
// while strangers' guesses lock her username. Before, a device was
// forgotten as soon as its key left the JWKS (24 hours after a planned
// rotation, at once after --now), and alice was locked out with them.
func TestADeviceStaysKnownAcrossAKeyRotation(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 100 })
	home := h.browser()
	if resp := h.login(home, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's first sign-in: %d", resp.StatusCode)
	}
	if err := h.p.Keys.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	if resp := h.login(h.browser(), "alice", pw, nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Fatalf("a new browser: %d, want the lockout", resp.StatusCode)
	}
	if resp := h.login(home, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		body(t, resp)
		t.Fatalf("alice on her own browser after the rotation: %d, want signed in", resp.StatusCode)
	}
}

// TestADeviceStaysKnownAcrossARehash: when the tenant's hashing
// parameters change, alice's next sign-in makes her hash again (the same
// password): her other browsers stay known devices, and strangers'
// guesses do not lock them out. Before, the new hash changed the stamp
// her device cookies carry, and every other browser of hers became a
// stranger's; a new password still makes them strangers.
func TestADeviceStaysKnownAcrossARehash(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 100 })
	home, laptop := h.browser(), h.browser()
	for _, b := range []*http.Client{home, laptop} {
		if resp := h.login(b, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("alice's sign-in: %d", resp.StatusCode)
		}
	}
	before, err := h.db.Users().Get(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	stronger := *h.p.PasswordParams
	stronger.Time++
	h.p.PasswordParams = &stronger
	if resp := h.login(laptop, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's sign-in on her laptop: %d", resp.StatusCode)
	}
	after, err := h.db.Users().Get(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == before.PasswordHash {
		t.Fatal("the sign-in did not make the hash again")
	}
	for range 4 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	for name, b := range map[string]*http.Client{"home": home, "laptop": laptop} {
		if resp := h.login(b, "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
			body(t, resp)
			t.Errorf("alice's %s browser after the rehash: %d, want signed in", name, resp.StatusCode)
		}
	}

	// A new password after the rehash still makes both strangers.
	if err := h.db.Users().Update(t.Context(), "alice", func(u store.User) (store.User, error) {
		u.PasswordHash = hash(t, "a new password")
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(h.p.window())
	for range 4 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	for name, b := range map[string]*http.Client{"home": home, "laptop": laptop} {
		if resp := h.login(b, "alice", "a guess", nil); resp.StatusCode != http.StatusTooManyRequests {
			body(t, resp)
			t.Errorf("alice's %s browser after a new password: %d, want the lockout", name, resp.StatusCode)
		}
	}
}
