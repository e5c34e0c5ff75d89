package identity

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestLoginCountersAreTheAccounts: usernames are matched exactly, so
// "Alice" and "alice" are two people, and the counters of their sign-ins
// must be two as well. Counted as one, signing in as "Alice" forgives the
// failures guessed at alice's password (a reset per sign-in, 30 of them a
// window), and guesses at "Alice" lock alice out.
func TestLoginCountersAreTheAccounts(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3 })
	if err := h.db.Users().Create(t.Context(), store.User{Username: "Alice", PasswordHash: hash(t, "alice's twin")}); err != nil {
		t.Fatal(err)
	}
	refused := func(user, pass string) bool {
		t.Helper()
		resp := h.login(h.browser(), user, pass, nil)
		html := body(t, resp)
		return resp.StatusCode == http.StatusOK && strings.Contains(html, badLogin) ||
			resp.StatusCode == http.StatusTooManyRequests && strings.Contains(html, throttledLogin)
	}

	// Guesses at alice, with a sign-in as Alice between them: four
	// failures in the window, past the limit of three.
	for range 2 {
		refused("alice", "wrong")
	}
	if refused("Alice", "alice's twin") {
		t.Fatal("Alice could not sign in")
	}
	for range 2 {
		refused("alice", "wrong")
	}
	if !refused("alice", pw) {
		t.Error("alice's password was checked after four failures: Alice's sign-in forgave her failures")
	} else if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "throttled" {
		t.Errorf("refused as %v, want throttled", ev.Detail["reason"])
	}

	// Nor do guesses at Alice lock alice out.
	h2 := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3 })
	if err := h2.db.Users().Create(t.Context(), store.User{Username: "Alice", PasswordHash: hash(t, "alice's twin")}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		body(t, h2.login(h2.browser(), "Alice", "wrong", nil))
	}
	if resp := h2.login(h2.browser(), "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		body(t, resp)
		t.Errorf("alice locked out by failures at Alice: %d", resp.StatusCode)
	}
}

// TestFederatedPersonIsOneUser: a federated person is the upstream's sub
// at the connection's issuer, whatever the claim their username was taken
// from says today. A user linked to that account and disabled here stays
// disabled when the upstream's preferred_username (the name an earlier
// version gave) or the connection's username claim changes: no second,
// enabled user is made for the same account.
func TestFederatedPersonIsOneUser(t *testing.T) {
	t.Run("legacy name", func(t *testing.T) {
		h, up := fedHarness(t)
		if err := h.db.Users().Create(t.Context(), store.User{Username: "okta:alice.up", Roles: []string{"auditor"}, Disabled: true,
			Attributes: map[string]string{attrIdP: "okta", attrIdPSub: "00u1"}}); err != nil {
			t.Fatal(err)
		}
		up.set(func(u *fakeUpstream) { u.claims["preferred_username"] = "alice.renamed" })
		resp := fedSignIn(t, h, h.browser(), authParams())
		body(t, resp)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("the disabled person signed in again under a new name: %d", resp.StatusCode)
		}
		if u, err := h.db.Users().Get(t.Context(), "okta:00u1"); err == nil {
			t.Errorf("a second user for the same account: %+v", u)
		}
	})
	t.Run("username claim", func(t *testing.T) {
		h, up := fedHarness(t, func(p *Provider) { p.Connections[0].UsernameClaim = "email" })
		body(t, fedSignIn(t, h, h.browser(), authParams()))
		if err := h.db.Users().Update(t.Context(), "okta:alice@up.example", func(u store.User) (store.User, error) {
			u.Disabled = true
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		// The same person, their address now spelt with a capital.
		up.set(func(u *fakeUpstream) { u.claims["email"] = "Alice@up.example" })
		resp := fedSignIn(t, h, h.browser(), authParams())
		body(t, resp)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("the disabled person signed in again under a new name: %d", resp.StatusCode)
		}
		if u, err := h.db.Users().Get(t.Context(), "okta:Alice@up.example"); err == nil {
			t.Errorf("a second user for the same account: %+v", u)
		}
	})
}

// TestFederatedAccountNeverTakesALocalUser: a local user an admin gave the
// attributes of a federated one is not whom the upstream account signs in
// as.
func TestFederatedAccountNeverTakesALocalUser(t *testing.T) {
	h, _ := fedHarness(t)
	if err := h.db.Users().Update(t.Context(), "alice", func(u store.User) (store.User, error) {
		u.Attributes = map[string]string{attrIdP: "okta", attrIdPSub: "00u1"}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if ev, _ := h.audit.last(audit.LoginSucceeded); ev.Actor != "okta:00u1" {
		t.Errorf("the upstream account signed in as %q", ev.Actor)
	}
}

// TestFederatedNameNotAClients: a person and a client cannot share a name
// (a client's own token has the client as its subject, and the trail's
// actor and a slip's sub are that subject): the tenant file and the admin
// commands refuse one, and a federated sign-in must not make one either.
func TestFederatedNameNotAClients(t *testing.T) {
	h, _ := fedHarness(t, func(p *Provider) { p.Connections[0].UsernameClaim = "preferred_username" })
	if err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "okta:alice.up", Kind: store.KindService,
		SecretHash: hash(t, "svc-secret"), Source: store.SourceTenant}); err != nil {
		t.Fatal(err)
	}
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if _, err := h.db.Users().Get(t.Context(), "okta:alice.up"); err == nil {
		t.Error("a federated sign-in made a person of a client's name")
	}
	if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != http.StatusForbidden || ev.Detail["reason"] != "account" {
		t.Errorf("sign-in: %d %+v", resp.StatusCode, ev)
	}
}

// TestFederatedNameDiffersOnlyInCase: a first federated sign-in does not
// make a person whose name differs only in case from a user the tenant
// holds (another upstream account, "okta:Alice.Up" beside the new
// "okta:alice.up") or from a client: the CLI's lists and the audit trail
// would show two principals an admin reads as one, as the tenant file
// and the admin commands refuse them. It is refused as an account that
// cannot sign in here, and nobody is made.
func TestFederatedNameDiffersOnlyInCase(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(h *harness) error
	}{
		{"user", func(h *harness) error {
			return h.db.Users().Create(t.Context(), store.User{Username: "okta:Alice.Up",
				Attributes: map[string]string{attrIdP: "okta", attrIdPSub: "00u9"}})
		}},
		{"client", func(h *harness) error {
			return h.db.Clients().Create(t.Context(), store.Client{ClientID: "okta:ALICE.UP", Kind: store.KindService,
				SecretHash: hash(t, "svc-secret"), Source: store.SourceTenant})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := fedHarness(t, func(p *Provider) { p.Connections[0].UsernameClaim = "preferred_username" })
			if err := tc.make(h); err != nil {
				t.Fatal(err)
			}
			resp := fedSignIn(t, h, h.browser(), authParams())
			body(t, resp)
			if _, err := h.db.Users().Get(t.Context(), "okta:alice.up"); err == nil {
				t.Error("a federated sign-in made okta:alice.up beside a name differing only in case")
			}
			if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != http.StatusForbidden || ev.Detail["reason"] != "account" {
				t.Errorf("sign-in: %d %+v", resp.StatusCode, ev)
			}
		})
	}
}
