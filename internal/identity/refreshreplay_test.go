package identity

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestRefreshReplayAfterItsExpiry: a used refresh token shown again after
// its own lifetime (14 days) is still a replay and revokes its grant, also
// after the expired tokens were purged. Before, it was refused as merely
// expired: a thief who redeemed a stolen token first and kept rotating
// kept the grant when its owner came back late with the old token.
func TestRefreshReplayAfterItsExpiry(t *testing.T) {
	h := newHarness(t)
	r0 := h.userTokens("scope", "openid offline_access")
	if r0.Refresh == "" {
		t.Fatalf("no refresh token: %v", r0.JSON)
	}
	r1 := refresh(h, r0.Refresh) // the thief, first
	if r1.Status != 200 {
		t.Fatalf("refresh: %v", r1.JSON)
	}
	h.clock.Advance(7 * 24 * time.Hour)
	r2 := refresh(h, r1.Refresh)
	if r2.Status != 200 {
		t.Fatalf("refresh 2: %v", r2.JSON)
	}
	h.clock.Advance(8 * 24 * time.Hour) // r0's 14 days are over
	if err := h.p.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := refresh(h, r0.Refresh); r.Status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("r0 again: %d %v", r.Status, r.JSON)
	}
	if ev, ok := h.audit.last(audit.TokenReuse); !ok || ev.Detail["revoked"] != true {
		t.Errorf("r0 again is not recorded as a reuse that revoked its grant: %v %+v", ok, ev)
	}
	if r := refresh(h, r2.Refresh); r.Status == 200 {
		t.Errorf("the grant outlived the replay: its newest token still refreshes")
	}
	// A token never used that expired is only expired: nothing to revoke.
	h2 := newHarness(t)
	s0 := h2.userTokens("scope", "openid offline_access")
	h2.clock.Advance(15 * 24 * time.Hour)
	if r := refresh(h2, s0.Refresh); r.Status != 400 || r.Error != "invalid_grant" {
		t.Errorf("an expired, unused token: %d %v", r.Status, r.JSON)
	}
	if _, ok := h2.audit.last(audit.TokenReuse); ok {
		t.Error("an expired, unused token was taken for a replay")
	}
}
