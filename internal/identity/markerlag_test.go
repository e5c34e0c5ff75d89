package identity

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestUsedRefreshTokenIsAReplayOnALaggingReplica: a replica whose clock is
// right purges the single-use markers of grants that just ended, then (in
// its next statement) the refresh tokens themselves. Meanwhile a replica
// whose clock lags a minute still takes a used token of such a grant for
// unexpired: it must still find the token's marker and refuse it as a
// replay, not issue tokens on it.
func TestUsedRefreshTokenIsAReplayOnALaggingReplica(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.GrantTTL = 20 * 24 * time.Hour })
	start := h.clock.Now()
	grantEnd := start.Add(20 * 24 * time.Hour)
	r0 := h.userTokens("scope", "openid offline_access")
	if r0.Refresh == "" {
		t.Fatalf("no refresh token: %v", r0.JSON)
	}
	h.clock.Advance(10 * 24 * time.Hour)
	r1 := refresh(h, r0.Refresh)
	if r1.Status != 200 {
		t.Fatalf("refresh: %v", r1.JSON)
	}
	h.clock.Advance(5 * 24 * time.Hour)
	if r2 := refresh(h, r1.Refresh); r2.Status != 200 { // r1 is used now; it expires with the grant
		t.Fatalf("refresh 2: %v", r2.JSON)
	}
	// The right clock's replica, one second past the grant's end: the
	// markers go first.
	if _, err := h.db.PurgeConsumed(t.Context(), grantEnd.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// This replica, a minute behind the grant's end.
	h.clock.Advance(grantEnd.Add(-time.Minute).Sub(h.clock.Now()))
	if r := refresh(h, r1.Refresh); r.Status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("the used r1 on a lagging replica: %d %v, want invalid_grant", r.Status, r.JSON)
	}
	if _, ok := h.audit.last(audit.TokenReuse); !ok {
		t.Error("the used r1 on a lagging replica is not recorded as a reuse")
	}
}
