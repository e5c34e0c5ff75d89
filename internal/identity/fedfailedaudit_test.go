package identity

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestFederatedFailureNamesWhoAndWhichApp: a federated sign-in refused
// once the upstream vouched for the account (the person disabled here)
// names the person it was for and the application it was to continue, as
// a refused password sign-in does, so that the person's (or the app's)
// export shows it. A refusal before the state is known names neither.
func TestFederatedFailureNamesWhoAndWhichApp(t *testing.T) {
	h, _ := fedHarness(t)
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if _, err := h.db.Users().Get(t.Context(), "okta:00u1"); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Update(t.Context(), "okta:00u1", func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	ev, ok := h.audit.last(audit.LoginFailed)
	if resp.StatusCode != 403 || !ok || ev.Detail["reason"] != "account" {
		t.Fatalf("disabled person: %d %+v", resp.StatusCode, ev)
	}
	if ev.Actor != "okta:00u1" || ev.Agent != "web" {
		t.Errorf("refused sign-in of the disabled okta:00u1 through web recorded as actor %q, agent %q", ev.Actor, ev.Agent)
	}
	// The upstream's error: the app is known (the state), the person not.
	h2, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { u.tamper = func(c map[string]any) { c["nonce"] = "x" } })
	body(t, fedSignIn(t, h2, h2.browser(), authParams()))
	if ev, _ := h2.audit.last(audit.LoginFailed); ev.Detail["reason"] != "upstream_token" || ev.Agent != "web" || ev.Actor != "" {
		t.Errorf("refused upstream answer recorded as %+v", ev)
	}
}
