package identity

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRevokingASubjectTokenRevokesItsExchanges: a token an agent exchanged
// (RFC 8693) names the tokens it comes from; revoking alice's access token
// (RFC 7009) revokes what was exchanged from it, and what was exchanged
// from that, while a token exchanged from another of her tokens stands.
// Before, the exchanged tokens stayed active until they expired, and could
// be exchanged again.
func TestRevokingASubjectTokenRevokesItsExchanges(t *testing.T) {
	h := newHarness(t)
	user, kept := h.userTokens(), h.userTokens()
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ex := h.token("agent", "agent-secret", exchangeForm(user.Access))
	again := h.token("agent", "agent-secret", exchangeForm(ex.Access))
	other := h.token("agent", "agent-secret", exchangeForm(kept.Access))
	for _, r := range []tokenResult{ex, again, other} {
		if r.Status != 200 {
			t.Fatalf("exchange: %v", r.JSON)
		}
	}
	userJTI, exJTI := claims(t, user.Access)["jti"], claims(t, ex.Access)["jti"]
	if p, _ := claims(t, again.Access)["pjti"].([]any); !slices.Equal(p, []any{userJTI, exJTI}) {
		t.Errorf("the twice-exchanged token names %v, want [%v %v]", p, userJTI, exJTI)
	}
	if r := h.post("/revoke", "web", "web-secret", url.Values{"token": {user.Access}}); r.Status != 200 {
		t.Fatalf("revoke: %d %v", r.Status, r.JSON)
	}
	active := func(tok string) any {
		return h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}}).JSON["active"]
	}
	for name, tok := range map[string]string{"the subject": user.Access, "exchanged": ex.Access, "exchanged twice": again.Access} {
		if a := active(tok); a != false {
			t.Errorf("%s, after the subject's revocation: active %v", name, a)
		}
	}
	if r := h.token("agent", "agent-secret", exchangeForm(ex.Access)); r.Status == 200 {
		t.Error("a token exchanged from a revoked one was exchanged again")
	}
	if a := active(other.Access); a != true {
		t.Errorf("exchanged from another token: active %v", a)
	}
}

// TestExchangesAreBounded: a token exchanged maxExchanges times is not
// exchanged again (each exchange makes the token longer and its checks
// more); the person's own token still is.
func TestExchangesAreBounded(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tok := user.Access
	for i := range maxExchanges {
		r := h.token("agent", "agent-secret", exchangeForm(tok))
		if r.Status != 200 {
			t.Fatalf("exchange %d: %v", i+1, r.JSON)
		}
		tok = r.Access
	}
	if r := h.token("agent", "agent-secret", exchangeForm(tok)); r.Error != "invalid_grant" {
		t.Errorf("exchange %d: %d %v, want invalid_grant", maxExchanges+1, r.Status, r.JSON)
	}
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access)); r.Status != 200 {
		t.Errorf("the person's own token: %v", r.JSON)
	}
}
