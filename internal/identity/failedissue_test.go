package identity

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
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

// identityFailing is a store whose identity records fail, while fail is
// set, in one way: op "count" (sign-in attempts cannot be counted: what a
// full disk makes of it) or "ended" (whether a sign-in ended cannot be
// read).
type identityFailing struct {
	Store
	op   string
	fail *atomic.Bool
}

func (s identityFailing) Identity() store.Identity {
	return failingIdentity{s.Store.Identity(), s.op, s.fail}
}

type failingIdentity struct {
	store.Identity
	op   string
	fail *atomic.Bool
}

func (i failingIdentity) CountAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if i.op == "count" && i.fail.Load() {
		return 0, errors.New("commit: database or disk is full (13)")
	}
	return i.Identity.CountAttempt(ctx, key, now, window)
}

func (i failingIdentity) Consumed(ctx context.Context, kind, id string) (bool, error) {
	if i.op == "ended" && kind == consumeSessionEnd && i.fail.Load() {
		return false, errors.New("the store cannot be read")
	}
	return i.Identity.Consumed(ctx, kind, id)
}

// TestUnreadableSignInSpendsNoCode: a code whose sign-in could not be
// checked (has it ended?) because the store failed is not spent: the
// retry once the store answers gets tokens.
func TestUnreadableSignInSpendsNoCode(t *testing.T) {
	h := newHarness(t)
	var fail atomic.Bool
	h.p.Store = identityFailing{h.p.Store, "ended", &fail}
	b := h.signedIn("alice")
	code := h.code(b, authParams("scope", "openid"))
	fail.Store(true)
	if r := h.redeem(code); r.Status != http.StatusInternalServerError || r.Error != "server_error" {
		t.Fatalf("redeeming while the sign-in cannot be checked: %d %v", r.Status, r.JSON)
	}
	fail.Store(false)
	if r := h.redeem(code); r.Status != http.StatusOK || r.Access == "" {
		t.Fatalf("the code's retry once the store answers: %d %v", r.Status, r.JSON)
	}
}
