package identity

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestSetConnectionsWhileServing: the connections handed to a serving
// provider replace those it had: the login page offers the new ones, a
// removed one is no longer there, and a sign-in maps roles as the new
// configuration says. A connection configured as before keeps what it
// fetched of its upstream. Connections Check would refuse are refused,
// and those in use stay.
func TestSetConnectionsWhileServing(t *testing.T) {
	h, up := fedHarness(t)
	ctx := t.Context()
	okta := func(roleMap map[string][]string) *Connection {
		return &Connection{Name: "okta", DisplayName: "Okta", Issuer: up.srv.URL, ClientID: "gatehouse",
			ClientSecret: "up-secret", RolesClaim: "groups", RoleMap: roleMap, DefaultRoles: []string{"staff"}}
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	up.mu.Lock()
	fetched := up.fetched
	up.mu.Unlock()

	// The same configuration, in new values: the upstream's discovery
	// document is not fetched again.
	if err := h.p.SetConnections([]*Connection{okta(map[string][]string{"Sales": {"sales-manager"}, "Admins": {"admin"}})}); err != nil {
		t.Fatal(err)
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	up.mu.Lock()
	again := up.fetched
	up.mu.Unlock()
	if again != fetched {
		t.Errorf("an unchanged connection fetched the upstream's discovery again (%d → %d)", fetched, again)
	}

	// Sales no longer maps to sales-manager.
	if err := h.p.SetConnections([]*Connection{okta(map[string][]string{"Admins": {"admin"}})}); err != nil {
		t.Fatal(err)
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if u, _ := h.db.Users().Get(ctx, "okta:00u1"); !slices.Equal(u.Roles, []string{"staff"}) {
		t.Errorf("after the role_map changed: roles %v, want [staff]", u.Roles)
	}

	// Refused: two connections of one name. The one in use stays.
	if err := h.p.SetConnections([]*Connection{okta(nil), okta(nil)}); err == nil {
		t.Error("two connections named okta were accepted")
	}
	if page := body(t, browse(t, h.browser(), h.url("/login"))); !strings.Contains(page, h.url("/login/okta")) {
		t.Errorf("a refused replacement took okta away:\n%s", page)
	}

	// okta removed, corp added.
	corp := okta(nil)
	corp.Name, corp.DisplayName = "corp", "Corp SSO"
	if err := h.p.SetConnections([]*Connection{corp}); err != nil {
		t.Fatal(err)
	}
	page := body(t, browse(t, h.browser(), h.url("/login")))
	if !strings.Contains(page, "Corp SSO") || strings.Contains(page, h.url("/login/okta")) {
		t.Errorf("the login page after okta was replaced by corp:\n%s", page)
	}
	if resp := browse(t, h.browser(), h.url("/login/okta")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /login/okta after okta was removed: %d", resp.StatusCode)
	}
}

func browse(t *testing.T, b *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := b.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
