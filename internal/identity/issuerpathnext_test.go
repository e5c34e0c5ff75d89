package identity

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestNextStaysUnderTheIssuer: under an issuer with a path, a sign-in's
// next is taken only under that path. Before, any path of the host was:
// a link to the tenant's real sign-in page sent the person, once signed
// in, to whatever another tenant or application of the host serves (a
// page asking for the password again), as directly as to the tenant's own.
func TestNextStaysUnderTheIssuer(t *testing.T) {
	h := newHarness(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := &Provider{Issuer: srv.URL + "/tenants/acme", Store: h.db, Keys: h.p.Keys, Now: h.clock.Now}
	p.Mount(mux)
	for next, want := range map[string]string{
		"/tenants/beta/welcome":            "/tenants/acme/signed-in",
		"/tenants/acmeco/welcome":          "/tenants/acme/signed-in",
		"/tenants/acme/../beta/welcome":    "/tenants/acme/signed-in",
		"/tenants/acme/%2E%2e/beta":        "/tenants/acme/signed-in",
		"/tenants/acme/./%2e/../beta":      "/tenants/acme/signed-in",
		"/tenants/acme/signed-in?x=1":      "/tenants/acme/signed-in?x=1",
		"/tenants/acme/admin/see..this/..": "/tenants/acme/signed-in",
		"/tenants/acme/a..b":               "/tenants/acme/a..b",
	} {
		b := h.browser()
		resp, err := b.Get(p.Issuer + "/login")
		if err != nil {
			t.Fatal(err)
		}
		csrf := csrfOf(t, body(t, resp))
		resp, err = b.PostForm(p.Issuer+"/login", url.Values{"username": {"alice"}, "password": {pw}, "csrf": {csrf}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("next=%q: %d Location %q, want %q", next, resp.StatusCode, loc, want)
		}
	}
}
