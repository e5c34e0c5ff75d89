package identity

// An attacker holding one stolen or leaked token, at the token,
// revocation and introspection endpoints: what that token gets them, and
// what the person's and the client's own moves take away.

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (h *harness) active(tok string) any {
	h.t.Helper()
	return h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}}).JSON["active"]
}

func (h *harness) consentFor(user, clientID string, scopes ...string) {
	h.t.Helper()
	if err := h.db.Identity().SetConsent(h.t.Context(), store.Consent{Username: user, ClientID: clientID,
		Scopes: scopes, GrantedAt: h.clock.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

// TestRefreshKeepsTheGrantsScopeAndResources: a refresh asking for more
// scope, or another resource, than the grant is refused (RFC 6749 §6, RFC
// 8707) and does not spend the token; asking for less narrows the access
// token only.
func TestRefreshKeepsTheGrantsScopeAndResources(t *testing.T) {
	h := newHarness(t)
	api, mcpRes := "https://api.example/", h.srv.URL+"/mcp"
	r := h.userTokens() // openid profile email, for /mcp only
	for _, tc := range []struct{ name, key, value, want string }{
		{"another resource", "resource", api, "invalid_target"},
		{"an unknown resource", "resource", "https://elsewhere.example/", "invalid_target"},
		{"offline_access", "scope", "openid offline_access", "invalid_scope"},
		{"a configured scope", "scope", "openid tools", "invalid_scope"},
		{"a tool", "scope", "openid tool:payroll_report", "invalid_scope"},
	} {
		if x := refresh(h, r.Refresh, tc.key, tc.value); x.Error != tc.want {
			t.Errorf("refresh asking for %s: %d %v, want %s", tc.name, x.Status, x.JSON, tc.want)
		}
	}
	x := refresh(h, r.Refresh)
	if x.Status != 200 {
		t.Fatalf("refresh after the refusals: %v", x.JSON)
	}
	if c := claims(t, x.Access); c["aud"] != mcpRes || c["scope"] != "openid profile email" {
		t.Errorf("refreshed token: aud %v scope %v", c["aud"], c["scope"])
	}

	// A grant for two resources: a refresh may ask for one of them, and
	// the next refresh still has both.
	v := authParams()
	v["resource"] = []string{mcpRes, api}
	b := h.signedIn("alice")
	two := h.redeem(h.code(b, v))
	one := refresh(h, two.Refresh, "resource", api)
	if one.Status != 200 || claims(t, one.Access)["aud"] != api {
		t.Fatalf("refresh for one resource: %v", one.JSON)
	}
	both := refresh(h, one.Refresh)
	if aud, _ := claims(t, both.Access)["aud"].([]any); both.Status != 200 || len(aud) != 2 {
		t.Errorf("the next refresh: %d aud %v", both.Status, claims(t, both.Access)["aud"])
	}
}

// TestRefreshReuseEndsEverythingOfTheGrant: a refresh token shown again
// after its rotation revokes the whole family — the newest refresh token,
// every access token, and what an agent exchanged from them — and the
// durable trail says so, naming the person and the client but no token.
func TestRefreshReuseEndsEverythingOfTheGrant(t *testing.T) {
	h := newHarness(t)
	log := h.durableAudit()
	r0 := h.userTokens()
	r1 := refresh(h, r0.Refresh)
	r2 := refresh(h, r1.Refresh)
	if r1.Status != 200 || r2.Status != 200 {
		t.Fatalf("rotation: %v %v", r1.JSON, r2.JSON)
	}
	h.consentFor("alice", "agent", "openid", "profile")
	ex := h.token("agent", "agent-secret", exchangeForm(r2.Access))
	if ex.Status != 200 {
		t.Fatalf("exchange: %v", ex.JSON)
	}
	if x := refresh(h, r1.Refresh); x.Error != "invalid_grant" || !strings.Contains(x.JSON["error_description"].(string), "already used") {
		t.Fatalf("reuse: %d %v", x.Status, x.JSON)
	}
	if x := refresh(h, r2.Refresh); x.Error != "invalid_grant" {
		t.Errorf("the newest refresh token after the reuse: %v", x.JSON)
	}
	for name, tok := range map[string]string{"first": r0.Access, "second": r1.Access, "newest": r2.Access, "exchanged": ex.Access} {
		if a := h.active(tok); a != false {
			t.Errorf("the %s access token after the reuse: active %v", name, a)
		}
	}
	if x := h.token("agent", "agent-secret", exchangeForm(r2.Access)); x.Status == 200 {
		t.Error("a token of the revoked family was exchanged")
	}
	reuse := stored(t, log, audit.TokenReuse)
	if len(reuse) != 1 {
		t.Fatalf("%d reuse records, want 1", len(reuse))
	}
	e := reuse[0].Event
	if e.Actor != "alice" || e.Agent != "web" || e.Status != "refused" || e.Detail["grant_id"] != claims(t, r0.Access)["gid"] {
		t.Errorf("reuse record %+v", e)
	}
	for _, tok := range []string{r0.Refresh, r1.Refresh, r2.Refresh, r0.Access, r2.Access} {
		if strings.Contains(string(reuse[0].Raw), tok) {
			t.Error("the reuse record holds a token")
		}
	}
}

// TestExchangeOfAnotherClientsToken: an agent exchanges a token issued to
// another client only for a person who allowed it, and gets no more
// scope, audience or life than the subject token and the consent allow;
// the act chain names the clients that really acted and nobody else.
func TestExchangeOfAnotherClientsToken(t *testing.T) {
	h := newHarness(t)
	api := "https://api.example/"
	if err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "agent2", Kind: store.KindAgent,
		SecretHash: hash(t, "agent2-secret"), Source: store.SourceTenant}); err != nil {
		t.Fatal(err)
	}
	v := authParams("scope", "openid profile email")
	v["resource"] = []string{h.srv.URL + "/mcp", api}
	b := h.signedIn("alice")
	user := h.redeem(h.code(b, v))
	if user.Status != 200 {
		t.Fatal(user.JSON)
	}
	// No consent: refused.
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access)); r.Error != "invalid_grant" {
		t.Fatalf("without consent: %v", r.JSON)
	}
	h.consentFor("alice", "agent", "openid", "profile")
	h.clock.Advance(5 * time.Minute) // the subject token has 5 of its 10 minutes left
	ex := h.token("agent", "agent-secret", exchangeForm(user.Access))
	if ex.Status != 200 {
		t.Fatalf("exchange: %v", ex.JSON)
	}
	c, s := claims(t, ex.Access), claims(t, user.Access)
	if c["exp"].(float64) > s["exp"].(float64) || ex.JSON["expires_in"].(float64) > 300 {
		t.Errorf("the exchanged token outlives its subject: exp %v > %v (expires_in %v)", c["exp"], s["exp"], ex.JSON["expires_in"])
	}
	if c["scope"] != "openid profile" || c["aud"] != h.srv.URL+"/mcp" || c["sub"] != "alice" || c["client_id"] != "agent" {
		t.Errorf("exchanged token %v", c)
	}
	for _, tc := range []struct {
		name string
		form []string
		want string
	}{
		{"a scope beyond the consent", []string{"scope", "openid email"}, "invalid_scope"},
		{"a scope beyond the subject", []string{"scope", "openid tools"}, "invalid_scope"},
		{"an audience beyond the consent", []string{"audience", api}, "invalid_target"},
		{"the person's token as actor", []string{"actor_token", user.Access, "actor_token_type", tokenTypeAccess}, "invalid_request"},
		{"the exchanged token as actor", []string{"actor_token", ex.Access, "actor_token_type", tokenTypeAccess}, "invalid_request"},
		{"a refresh token as subject", []string{"subject_token", user.Refresh}, "invalid_grant"},
	} {
		if r := h.token("agent", "agent-secret", exchangeForm(user.Access, tc.form...)); r.Error != tc.want {
			t.Errorf("%s: %d %v, want %s", tc.name, r.Status, r.JSON, tc.want)
		}
	}
	// Another agent's actor token names another client.
	other := h.token("agent2", "agent2-secret", url.Values{"grant_type": {"client_credentials"}})
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access, "actor_token", other.Access,
		"actor_token_type", tokenTypeAccess)); r.Error != "invalid_request" {
		t.Errorf("another agent's actor token: %d %v", r.Status, r.JSON)
	}
	// A second agent, which alice never allowed, holding the first's
	// exchanged token: refused, whoever it came through.
	if r := h.token("agent2", "agent2-secret", exchangeForm(ex.Access)); r.Error != "invalid_grant" {
		t.Errorf("another agent exchanging the exchanged token: %d %v", r.Status, r.JSON)
	}
	// The agent re-exchanging its own token gets no more life either.
	h.clock.Advance(4 * time.Minute)
	again := h.token("agent", "agent-secret", exchangeForm(ex.Access))
	if again.Status != 200 || claims(t, again.Access)["exp"].(float64) > s["exp"].(float64) {
		t.Errorf("re-exchange: %d %v", again.Status, again.JSON)
	}
}

// TestDisabledOrRemovedPersonsTokensStop: once a person is disabled or
// removed, their refresh tokens give nothing and the tokens an agent
// exchanged for them are refused, at once.
func TestDisabledOrRemovedPersonsTokensStop(t *testing.T) {
	for _, how := range []string{"disabled", "removed"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			r := h.userTokens("scope", "openid offline_access")
			h.consentFor("alice", "agent", "openid", "offline_access")
			ex := h.token("agent", "agent-secret", exchangeForm(r.Access))
			if ex.Status != 200 {
				t.Fatalf("exchange: %v", ex.JSON)
			}
			ctx := t.Context()
			err := h.db.InTx(ctx, func(tx store.Tenant) error {
				if how == "removed" {
					if err := tx.Users().Delete(ctx, "alice"); err != nil {
						return err
					}
				} else if err := tx.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
					u.Disabled = true
					return u, nil
				}); err != nil {
					return err
				}
				_, err := tx.EndUser(ctx, "alice", h.clock.Now().Add(24*time.Hour))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
				t.Errorf("refresh: %d %v", x.Status, x.JSON)
			}
			for name, tok := range map[string]string{"access": r.Access, "exchanged": ex.Access} {
				if a := h.active(tok); a != false {
					t.Errorf("%s token: active %v", name, a)
				}
			}
			if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Status == 200 {
				t.Error("exchanged again")
			}
			if x := h.token("agent", "agent-secret", exchangeForm(ex.Access)); x.Status == 200 {
				t.Error("the exchanged token exchanged again")
			}
		})
	}
}

// TestRevokingAnotherClientsTokenDoesNothing: RFC 7009 §2.1: a token of
// another client is answered 200 and stays as it was, refresh and
// access token alike; an exchanged token is the agent's to revoke, and
// the person's client ends it by revoking its own token.
func TestRevokingAnotherClientsTokenDoesNothing(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	h.consentFor("alice", "agent", "openid", "profile")
	ex := h.token("agent", "agent-secret", exchangeForm(r.Access))
	if ex.Status != 200 {
		t.Fatal(ex.JSON)
	}
	for _, tc := range []struct{ who, secret, tok string }{
		{"agent", "agent-secret", r.Access},
		{"agent", "agent-secret", r.Refresh},
		{"billing", "billing-secret", r.Access},
		{"billing", "billing-secret", r.Refresh},
		{"web", "web-secret", ex.Access},
	} {
		if x := h.post("/revoke", tc.who, tc.secret, url.Values{"token": {tc.tok}}); x.Status != 200 {
			t.Errorf("%s revoking another's token: %d %v", tc.who, x.Status, x.JSON)
		}
		// A public client naming itself, as anyone may.
		if x := h.post("/revoke", "", "", url.Values{"client_id": {"native"}, "token": {tc.tok}}); x.Status != 200 {
			t.Errorf("native revoking another's token: %d %v", x.Status, x.JSON)
		}
	}
	for name, tok := range map[string]string{"access": r.Access, "exchanged": ex.Access} {
		if a := h.active(tok); a != true {
			t.Errorf("%s token after others' revocations: active %v", name, a)
		}
	}
	if _, ok := h.audit.last(audit.TokenRevoked); ok {
		t.Error("a refused revocation was recorded as one")
	}
	// The agent revokes its own exchanged token; the person's stays.
	if x := h.post("/revoke", "agent", "agent-secret", url.Values{"token": {ex.Access}}); x.Status != 200 {
		t.Fatal(x.JSON)
	}
	if h.active(ex.Access) != false || h.active(r.Access) != true {
		t.Error("the agent's revocation of its own token")
	}
	r2 := refresh(h, r.Refresh)
	if r2.Status != 200 {
		t.Fatalf("refresh after the others' revocations: %v", r2.JSON)
	}
	// The refresh token's revocation ends the access tokens of its grant
	// and what was exchanged from them.
	ex2 := h.token("agent", "agent-secret", exchangeForm(r2.Access))
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r2.Refresh}}); x.Status != 200 {
		t.Fatal(x.JSON)
	}
	for name, tok := range map[string]string{"first": r.Access, "refreshed": r2.Access, "exchanged": ex2.Access} {
		if a := h.active(tok); a != false {
			t.Errorf("%s access token after its refresh token's revocation: active %v", name, a)
		}
	}
}

// TestEarlierPersonsRefreshTokenGivesNothing: a refresh token issued to a
// person removed since is refused at /token and introspects inactive
// once a person of the same name is created, as that earlier person's
// access token is (Standing), and as an earlier client's refresh token
// is. Removal ends the grant too (EndUser); this holds without it, as the
// access tokens' check does (TestTokensOfAnEarlierPersonOrClient).
// Before, the refresh gave the new person's tokens to the earlier one's
// client: the access token it minted was dated after the new person's
// creation, so nothing downstream told it apart.
func TestEarlierPersonsRefreshTokenGivesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	r := h.userTokens("scope", "openid offline_access")
	alice, err := h.db.Users().Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Create(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.SQL().Exec(h.db.Rebind("UPDATE users SET created_at = created_at + ? WHERE name = ?"),
		(2 * time.Minute).Microseconds(), "alice"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(3 * time.Minute) // the new alice's time
	in := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Refresh}})
	if in.JSON["active"] != false {
		t.Errorf("an earlier alice's refresh token introspects active %v", in.JSON["active"])
	}
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("an earlier alice's refresh token: %d %q (new token active: %v)", x.Status, x.Error, h.active(x.Access))
	}
	// The new alice's own grant is hers.
	if x := refresh(h, h.userTokens("scope", "openid offline_access").Refresh); x.Status != 200 {
		t.Errorf("the new alice's refresh: %v", x.JSON)
	}
}
