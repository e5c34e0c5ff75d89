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
		return resp.StatusCode == http.StatusOK && strings.Contains(html, badLogin)
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
