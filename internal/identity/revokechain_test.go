package identity

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRevokedExchangedTokenNamesTheChain: an agent revoking a token it
// got by exchange is recorded with the delegation chain the token's
// issuance was recorded with, so the trail ties the two.
func TestRevokedExchangedTokenNamesTheChain(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(context.Background(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := h.token("agent", "agent-secret", exchangeForm(user.Access, "scope", "openid profile"))
	if r.Status != 200 {
		t.Fatalf("exchange: %d %v", r.Status, r.JSON)
	}
	issued, _ := h.audit.last(audit.TokenExchanged)
	if x := h.post("/revoke", "agent", "agent-secret", url.Values{"token": {r.Access}}); x.Status != 200 {
		t.Fatalf("revoke: %d %v", x.Status, x.JSON)
	}
	ev, ok := h.audit.last(audit.TokenRevoked)
	if !ok || ev.Actor != "alice" || ev.Agent != "agent" || len(ev.Chain) == 0 || !cmp.Equal(ev.Chain, issued.Chain) {
		t.Errorf("revocation recorded as %+v, its issuance with chain %v", ev, issued.Chain)
	}
}
