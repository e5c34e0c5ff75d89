package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSignInWithNothingToContinueTo: a person who signs in at the login
// page itself lands on a page of the provider's that says who they are
// signed in as and signs them out, not on a path nothing serves.
func TestSignInWithNothingToContinueTo(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	resp := h.login(b, "alice", pw, nil)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/signed-in" {
		t.Fatalf("login: %d %q", resp.StatusCode, loc)
	}
	resp, err := b.Get(h.url(loc))
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "signed in to Gatehouse as <strong>alice</strong>") ||
		!strings.Contains(page, `action="`+h.url("/logout")+`"`) {
		t.Fatalf("signed-in page: %d\n%s", resp.StatusCode, page)
	}
	// Its button signs out.
	resp, err = b.PostForm(h.url("/logout"), url.Values{"csrf": {csrfOf(t, page)}})
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out.") {
		t.Fatalf("sign-out: %d\n%s", resp.StatusCode, page)
	}
	// Signed out, the page is the login page.
	resp, err = b.Get(h.url("/signed-in"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("signed-in page without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A federated sign-in with nothing to continue to lands there too.
	fh, _ := fedHarness(t)
	fb := fh.browser()
	resp = fedSignIn(t, fh, fb, url.Values{})
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/signed-in" {
		t.Fatalf("federated sign-in: %d %q", resp.StatusCode, loc)
	}
	resp, _ = fb.Get(fh.url("/signed-in"))
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "okta:00u1") {
		t.Errorf("signed-in page after a federated sign-in: %d", resp.StatusCode)
	}
}
