package identity

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestTenantsOnOneHostKeepTheirCookies: two tenants served under issuers
// with paths on one host (as a multi-tenant deployment behind a reverse
// proxy has them) each keep their own cookies in a browser. Before, both
// named theirs gh_session (or __Host-gh_session) with Path=/, so signing
// in to one replaced the other's session in the browser, and opening one's
// login page replaced the other's sign-in form's CSRF cookie.
func TestTenantsOnOneHostKeepTheirCookies(t *testing.T) {
	ha, hb := newHarness(t), newHarness(t) // a store of their own each
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	acme := &Provider{Issuer: srv.URL + "/tenants/acme", Store: ha.db, Keys: ha.p.Keys, Now: ha.clock.Now}
	beta := &Provider{Issuer: srv.URL + "/tenants/beta", Store: hb.db, Keys: hb.p.Keys, Now: hb.clock.Now}
	acme.Mount(mux)
	beta.Mount(mux)
	b := ha.browser()

	loginPage := func(iss string) string {
		t.Helper()
		resp, err := b.Get(iss + "/login")
		if err != nil {
			t.Fatal(err)
		}
		return csrfOf(t, body(t, resp))
	}
	signIn := func(iss, user, csrf string) {
		t.Helper()
		resp, err := b.PostForm(iss+"/login", url.Values{"username": {user}, "password": {pw}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		if page := body(t, resp); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in at %s: %d\n%.300s", iss, resp.StatusCode, page)
		}
	}
	signedIn := func(iss string) string {
		t.Helper()
		resp, err := b.Get(iss + "/signed-in")
		if err != nil {
			t.Fatal(err)
		}
		page := body(t, resp)
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		_, who, _ := strings.Cut(page, "signed in to Gatehouse as <strong>")
		who, _, _ = strings.Cut(who, "</strong>")
		return who
	}

	// Both sign-in forms open at once, in two tabs.
	ca, cb := loginPage(acme.Issuer), loginPage(beta.Issuer)
	signIn(acme.Issuer, "alice", ca)
	signIn(beta.Issuer, "bob", cb)
	if who := signedIn(acme.Issuer); who != "alice" {
		t.Errorf("at acme after signing in to beta: signed in as %q, want alice", who)
	}
	if who := signedIn(beta.Issuer); who != "bob" {
		t.Errorf("at beta: signed in as %q, want bob", who)
	}

	// On https they keep the __Host- prefix, bound to the host.
	p := &Provider{Issuer: "https://id.example/tenants/acme", Store: ha.db, Keys: ha.p.Keys, Now: ha.clock.Now}
	m := http.NewServeMux()
	p.Mount(m)
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "https://id.example/tenants/acme/login", nil))
	if c := rec.Result().Cookies(); len(c) != 1 || !strings.HasPrefix(c[0].Name, "__Host-gh_login_csrf") || c[0].Path != "/" || !c[0].Secure {
		t.Errorf("cookies on https %+v", c)
	}
}
