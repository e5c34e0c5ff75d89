package identity

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestExchangeKeepsTheSubjectTokensClient: alice signs in through
// payroll-bot, an agent capped to payroll_report; the assistant, which
// she lets act for her too, exchanges payroll-bot's token. The exchanged
// token's act names payroll-bot after the assistant, so that its cap
// still narrows the calls (the gateway intersects the caps of the chain)
// and its being disabled ends the token. Before, act named the assistant
// alone: payroll-bot, handing its token on, escaped its own cap, and the
// trail did not say through whom the assistant got alice's token.
func TestExchangeKeepsTheSubjectTokensClient(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const botRedirect = "https://bot.example/cb"
	if err := h.db.Clients().Create(ctx, store.Client{ClientID: "payroll-bot", Kind: store.KindAgent,
		SecretHash: hash(t, "bot-secret"), FirstParty: true, RedirectURIs: []string{botRedirect},
		Tools: []string{"payroll_report"}, Source: store.SourceTenant}); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Identity().SetConsent(ctx, store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := h.signedIn("alice")
	code := h.code(b, authParams("client_id", "payroll-bot", "redirect_uri", botRedirect))
	bot := h.token("payroll-bot", "bot-secret", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {botRedirect}})
	if bot.Status != 200 {
		t.Fatalf("payroll-bot's token: %v", bot.JSON)
	}

	ex := h.token("agent", "agent-secret", exchangeForm(bot.Access))
	if ex.Status != 200 {
		t.Fatalf("exchange: %v", ex.JSON)
	}
	c, err := accesstoken.Verify(h.p.Keys, ex.Access, h.srv.URL, h.srv.URL+"/mcp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Act.Chain(); !slices.Equal(got, []string{"agent", "payroll-bot"}) {
		t.Errorf("the exchanged token's chain is %v, want [agent payroll-bot]", got)
	}
	if ev, _ := h.audit.last(audit.TokenExchanged); !slices.Equal(ev.Chain, []string{"agent", "payroll-bot"}) {
		t.Errorf("token.exchanged names the chain %v, want [agent payroll-bot]", ev.Chain)
	}

	// payroll-bot disabled: its token is refused, and so is what was
	// exchanged from it.
	h.p.ClientCacheTTL = -1
	if err := h.db.Clients().Update(ctx, "payroll-bot", func(cl store.Client) (store.Client, error) {
		cl.Disabled = true
		return cl, nil
	}); err != nil {
		t.Fatal(err)
	}
	if a := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {ex.Access}}).JSON["active"]; a != false {
		t.Errorf("exchanged from a disabled agent's token: active %v", a)
	}
}
