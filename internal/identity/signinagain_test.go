package identity

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// signOut signs b out with the form of the logout page, as a person does.
func signOut(t *testing.T, h *harness, b *http.Client) {
	t.Helper()
	resp, err := b.Get(h.url("/logout"))
	if err != nil {
		t.Fatal(err)
	}
	csrf := csrfOf(t, body(t, resp))
	resp, err = b.PostForm(h.url("/logout"), url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	if body(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
}

// onlineGrant runs the code flow on b for a grant without offline_access
// and checks that it refreshes while its sign-in lasts; it returns the
// newest refresh token.
func onlineGrant(t *testing.T, h *harness, b *http.Client) string {
	t.Helper()
	r := h.redeem(h.code(b, authParams("scope", "openid")))
	if r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	next := refresh(h, r.Refresh)
	if next.Status != http.StatusOK || next.Refresh == "" {
		t.Fatalf("refresh during the sign-in: %v", next.JSON)
	}
	return next.Refresh
}

// TestSignInAgainEndsThePriorSession: a sign-in in a browser that already
// holds a session ends that session, whoever signs in and however, so the
// grants it gave without offline_access end with it (and a later sign-out
// leaves nothing of it alive); grants with offline_access are untouched.
func TestSignInAgainEndsThePriorSession(t *testing.T) {
	t.Run("prompt=login", func(t *testing.T) {
		h := newHarness(t)
		b := h.signedIn("alice")
		first := onlineGrant(t, h, b)
		offline := h.redeem(h.code(b, authParams("scope", "openid offline_access")))
		if offline.Refresh == "" {
			t.Fatalf("no offline refresh token: %v", offline.JSON)
		}

		// The client asks for a fresh sign-in; alice signs in again.
		authz := redirectQuery(t, h.authorize(b, authParams("scope", "openid", "prompt", "login")), h.url("/login?")).Get("authz")
		if authz == "" {
			t.Fatal("prompt=login did not send the browser to the login page with its request")
		}
		resp := h.login(b, "alice", pw, url.Values{"authz": {authz}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", resp.StatusCode)
		}
		if x := refresh(h, first); x.Error != "invalid_grant" {
			t.Errorf("the first grant refreshes after alice signed in again: %d %s", x.Status, x.Error)
		}
		if ev, ok := h.audit.last(audit.Logout); !ok || ev.Actor != "alice" || ev.Detail["reason"] != "signed_in_again" {
			t.Errorf("no logout event for the replaced session: %+v", ev)
		}
		second := onlineGrant(t, h, b)

		signOut(t, h, b)
		for name, tok := range map[string]string{"first": first, "second": second} {
			if x := refresh(h, tok); x.Error != "invalid_grant" {
				t.Errorf("the %s grant refreshes after the sign-out: %d %v", name, x.Status, x.JSON)
			}
		}
		if x := refresh(h, offline.Refresh); x.Status != http.StatusOK {
			t.Errorf("a grant with offline_access ended with the sign-in: %v", x.JSON)
		}
	})

	t.Run("another person", func(t *testing.T) {
		h := newHarness(t)
		b := h.signedIn("alice")
		first := onlineGrant(t, h, b)

		resp := h.login(b, "bob", pw, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("bob's sign-in: %d", resp.StatusCode)
		}
		if x := refresh(h, first); x.Error != "invalid_grant" {
			t.Errorf("alice's grant refreshes after bob signed in in her browser: %d %s", x.Status, x.Error)
		}
		// The browser is bob's now, and only bob's.
		q := redirectQuery(t, h.authorize(b, authParams("scope", "openid")), webRedirect)
		r := h.redeem(q.Get("code"))
		if r.Status != http.StatusOK || claims(t, r.ID)["sub"] != "bob" {
			t.Fatalf("bob's grant: %v", r.JSON)
		}
		signOut(t, h, b)
		if x := refresh(h, first); x.Error != "invalid_grant" {
			t.Errorf("alice's grant refreshes after bob signed out: %d %s", x.Status, x.Error)
		}
		if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
			t.Errorf("bob's grant refreshes after he signed out: %d %s", x.Status, x.Error)
		}
	})

	t.Run("federated", func(t *testing.T) {
		h, _ := fedHarness(t)
		b := h.signedIn("alice")
		first := onlineGrant(t, h, b)

		resp := fedSignIn(t, h, b, authParams("scope", "openid"))
		body(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("federated sign-in: %d", resp.StatusCode)
		}
		if x := refresh(h, first); x.Error != "invalid_grant" {
			t.Errorf("alice's grant refreshes after a federated sign-in in her browser: %d %s", x.Status, x.Error)
		}
		resp, err := b.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := redirectQuery(t, resp, webRedirect)
		if r := h.redeem(q.Get("code")); r.Status != http.StatusOK || claims(t, r.ID)["sub"] != "okta:00u1" {
			t.Fatalf("the federated grant: %v", r.JSON)
		}
		signOut(t, h, b)
		if x := refresh(h, first); x.Error != "invalid_grant" {
			t.Errorf("alice's grant refreshes after the sign-out: %d %s", x.Status, x.Error)
		}
	})
}
