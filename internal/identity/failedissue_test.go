package identity

import (
	"github.com/gatehouse/gatehouse/internal/audit"
	"net/http"
	"testing"
)

// TestFailedIssueSpendsNothing: a code or refresh token whose tokens could
// not be issued (the audit record or the new refresh token's row refused
// by a database that misbehaved for a moment) is not spent: the client got
// a server_error and nothing else, and its retry once the database is back
// gets tokens, instead of being taken for a replay that revokes the whole
// grant and records a token reuse nobody committed.
func TestFailedIssueSpendsNothing(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams("scope", "openid offline_access"))
	h.audit.fail = true
	if r := h.redeem(code); r.Status != http.StatusInternalServerError || r.Error != "server_error" || r.Access != "" {
		t.Fatalf("redeeming while the audit fails: %d %v", r.Status, r.JSON)
	}
	h.audit.fail = false
	r := h.redeem(code)
	if r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("the code's retry once the audit is back: %d %v", r.Status, r.JSON)
	}

	h.audit.fail = true
	if x := refresh(h, r.Refresh); x.Status != http.StatusInternalServerError || x.Access != "" {
		t.Fatalf("refreshing while the audit fails: %d %v", x.Status, x.JSON)
	}
	h.audit.fail = false
	next := refresh(h, r.Refresh)
	if next.Status != http.StatusOK || next.Refresh == "" {
		t.Fatalf("the refresh's retry once the audit is back: %d %v", next.Status, next.JSON)
	}
	if _, ok := h.audit.last(audit.TokenReuse); ok {
		t.Errorf("a retry after a server error was recorded as a token reuse")
	}
	// Single use still holds.
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("a real replay: %v", x.JSON)
	}
}
