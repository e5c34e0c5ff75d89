package identity

import (
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRefusedExchangeOfARevokedTokenNamesThePerson: an agent asking to
// act for alice with a token of hers that was revoked (her grant, or the
// token itself), or that expired, is refused, and the record says for whom
// it asked and with which token: the token's signature proved both. Before,
// such a refusal was recorded as one of a token that did not verify, which
// names no one: an agent replaying a person's revoked token left a trace
// without the person.
func TestRefusedExchangeOfARevokedTokenNamesThePerson(t *testing.T) {
	h := newHarness(t)
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	revokedGrant, revokedToken, expired := h.userTokens(), h.userTokens(), h.userTokens()
	_ = h.post("/revoke", "web", "web-secret", url.Values{"token": {revokedGrant.Refresh}})
	_ = h.post("/revoke", "web", "web-secret", url.Values{"token": {revokedToken.Access}})
	check := func(name, tok string) {
		t.Helper()
		subj := claims(t, tok)
		if r := h.token("agent", "agent-secret", exchangeForm(tok)); r.Error != "invalid_grant" {
			t.Fatalf("%s: %d %v, want invalid_grant", name, r.Status, r.JSON)
		}
		ev, _ := h.audit.last(audit.TokenExchanged)
		if ev.Status != "refused" || ev.Agent != "agent" || ev.Actor != "alice" || ev.Session != subj["sid"] ||
			ev.Detail["subject_token_id"] != subj["jti"] {
			t.Errorf("%s: refusal recorded as %+v", name, ev)
		}
	}
	check("grant revoked", revokedGrant.Access)
	check("token revoked", revokedToken.Access)
	h.clock.Advance(11 * time.Minute)
	check("expired", expired.Access)
}
