package identity

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFederatedGrantRefreshesWhileItsSessionLives: a grant without
// offline_access lasts as long as the session it came from. A federated
// session is stored now, and lives its 12 hours from now, but its AuthTime
// is the upstream's auth_time, which may be days old (an upstream keeps its
// own sessions long). The refresh took AuthTime + 12 hours for the end of
// the session, so such a person's refresh tokens were refused from the
// first use, while the session itself was alive.
func TestFederatedGrantRefreshesWhileItsSessionLives(t *testing.T) {
	h, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { u.claims["auth_time"] = time.Now().Add(-13 * time.Hour).Unix() })
	b := h.browser()
	resp := fedSignIn(t, h, b, authParams())
	body(t, resp)
	resp, err := b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r := h.redeem(redirectQuery(t, resp, webRedirect).Get("code"))
	if r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	x := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}})
	if x.Status != http.StatusOK {
		t.Fatalf("refresh of a grant whose session is alive: %d %v", x.Status, x.JSON)
	}
	// The session's end still ends it.
	h.clock.Advance(12*time.Hour + time.Minute)
	if y := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {x.Refresh}}); !strings.Contains(fmt.Sprint(y.JSON["error_description"]), "has ended") {
		t.Fatalf("refresh after the session ended: %d %v", y.Status, y.JSON)
	}
}

// TestLogoutPostedFromTheAppEndsTheSession: RP-Initiated Logout lets the
// app post its logout request (section 2: GET and POST), a form on its own
// site, to which the browser sends no SameSite=Lax cookie. The request
// then came without the session's cookie, was taken for one of a browser
// not signed in, and sent the browser back to the app, which took the
// person for signed out while the session, and the grants it gave, lived
// on. Now the person is asked, on a page of this site, whose button
// brings the cookie.
func TestLogoutPostedFromTheAppEndsTheSession(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams()))
	v := url.Values{"id_token_hint": {r.ID}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s9"}}
	// The app's form, posted across sites: no cookie comes with it.
	req, _ := http.NewRequest(http.MethodPost, h.url("/logout"), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.browser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	html := body(t, resp)
	if resp.StatusCode == http.StatusSeeOther {
		x := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}})
		t.Fatalf("sent back to the app as signed out (%q), and the session's grant still refreshes: %d",
			resp.Header.Get("Location"), x.Status)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(html, "Sign out?") {
		t.Fatalf("a logout posted without the cookie: %d", resp.StatusCode)
	}
	// The page's button, posted from this site, brings the cookie.
	resp, err = b.PostForm(h.url("/logout"), formFields(t, html, h.url("/logout")))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://app.example/bye?state=s9" {
		t.Fatalf("the confirmation: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if x := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); x.Status == http.StatusOK {
		t.Fatal("the session's grant refreshes after signing out")
	}
	// A browser that has no session is not asked again and again: the
	// page's button sends it back.
	resp, err = h.browser().PostForm(h.url("/logout"), formFields(t, html, h.url("/logout")))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://app.example/bye?state=s9" {
		t.Fatalf("the confirmation without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
