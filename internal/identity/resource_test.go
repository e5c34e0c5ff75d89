package identity

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

const exchange = "urn:ietf:params:oauth:grant-type:token-exchange"

func exchangeForm(subject string, extra ...string) url.Values {
	f := url.Values{"grant_type": {exchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccess}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			f.Del(extra[i])
		} else {
			f.Set(extra[i], extra[i+1])
		}
	}
	return f
}

func TestTokenExchange(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	// alice signed in through another app and never let "agent" act for
	// her: holding her token is not enough.
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access)); r.Status != 400 || r.JSON["error"] != "invalid_grant" {
		t.Fatalf("exchange without the person's consent: %d %v", r.Status, r.JSON)
	}
	if err := h.db.Identity().SetConsent(context.Background(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := h.token("agent", "agent-secret", exchangeForm(user.Access, "scope", "openid profile"))
	if r.Status != 200 || r.JSON["issued_token_type"] != tokenTypeAccess || r.JSON["token_type"] != "Bearer" ||
		r.Refresh != "" || r.ID != "" {
		t.Fatalf("exchange: %d %v", r.Status, r.JSON)
	}
	c, err := accesstoken.Verify(h.p.Keys, r.Access, h.srv.URL, h.srv.URL+"/mcp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	subj := claims(t, user.Access)
	if c.Subject != "alice" || c.ClientID != "agent" || c.Scope != "openid profile" || c.GrantID != subj["gid"] ||
		c.Expiry > int64(subj["exp"].(float64)) {
		t.Errorf("claims %+v", c)
	}
	// The web app alice signed in through acted for her first.
	if diff := cmp.Diff(&accesstoken.Actor{Sub: "agent", ClientID: "agent", Act: &accesstoken.Actor{Sub: "web", ClientID: "web"}}, c.Act); diff != "" {
		t.Errorf("act (-want +got):\n%s", diff)
	}
	ev, ok := h.audit.last(audit.TokenExchanged)
	if !ok || ev.Actor != "alice" || ev.Agent != "agent" || !cmp.Equal(ev.Chain, []string{"agent", "web"}) {
		t.Errorf("event %+v", ev)
	}
	// Exchanging the exchanged token again nests the earlier actor.
	r2 := h.token("agent", "agent-secret", exchangeForm(r.Access))
	if r2.Status != 200 {
		t.Fatal(r2.JSON)
	}
	c2, _ := accesstoken.Verify(h.p.Keys, r2.Access, h.srv.URL, h.srv.URL+"/mcp", time.Now())
	if got := c2.Act.Chain(); !cmp.Equal(got, []string{"agent", "agent", "web"}) {
		t.Errorf("nested chain %v", got)
	}
	// An actor token of the agent itself is accepted.
	own := h.token("agent", "agent-secret", url.Values{"grant_type": {"client_credentials"}})
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access, "actor_token", own.Access,
		"actor_token_type", tokenTypeAccess)); r.Status != 200 {
		t.Errorf("with actor_token: %v", r.JSON)
	}
	// Revoking the person's grant revokes what the agent got.
	_ = h.post("/revoke", "web", "web-secret", url.Values{"token": {user.Refresh}})
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}}); in.JSON["active"] != false {
		t.Errorf("exchanged token after the grant's revocation: %v", in.JSON)
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	service := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	other := h.token("agent", "agent-secret", url.Values{"grant_type": {"client_credentials"}})
	_ = other
	// alice lets the agent act for her, so the refusals below are each
	// for their own reason.
	if err := h.db.Identity().SetConsent(context.Background(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id, secret string
		form             url.Values
		error            string
	}{
		{"service client", "billing", "billing-secret", exchangeForm(user.Access), "unauthorized_client"},
		{"web client", "web", "web-secret", exchangeForm(user.Access), "unauthorized_client"},
		{"no subject", "agent", "agent-secret", exchangeForm("", "subject_token", ""), "invalid_request"},
		{"subject type refresh", "agent", "agent-secret", exchangeForm(user.Refresh, "subject_token_type", tokenTypeRefresh), "invalid_request"},
		{"requested type id_token", "agent", "agent-secret", exchangeForm(user.Access, "requested_token_type", "urn:ietf:params:oauth:token-type:id_token"), "invalid_request"},
		{"garbage subject", "agent", "agent-secret", exchangeForm("a.b.c"), "invalid_grant"},
		{"ID token as subject", "agent", "agent-secret", exchangeForm(user.ID), "invalid_grant"},
		{"a client's own token as subject", "agent", "agent-secret", exchangeForm(service.Access), "invalid_grant"},
		{"wider scope", "agent", "agent-secret", exchangeForm(user.Access, "scope", "openid tools"), "invalid_scope"},
		{"unknown audience", "agent", "agent-secret", exchangeForm(user.Access, "audience", "https://x.example/"), "invalid_target"},
		{"someone else's actor token", "agent", "agent-secret", exchangeForm(user.Access, "actor_token", service.Access, "actor_token_type", tokenTypeAccess), "invalid_request"},
		{"actor type without token", "agent", "agent-secret", exchangeForm(user.Access, "actor_token_type", tokenTypeAccess), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.token(tc.id, tc.secret, tc.form)
			if r.Status != 400 || r.Error != tc.error {
				t.Fatalf("%d %v, want %s", r.Status, r.JSON, tc.error)
			}
		})
	}
	// An expired subject token.
	h.clock.Advance(11 * time.Minute)
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access)); r.Error != "invalid_grant" {
		t.Errorf("expired subject: %v", r.JSON)
	}
}

// An exchanged token carries no more than the person allowed the agent
// (their consent, given through the agent's own sign-in) and no more than
// the subject token itself: scopes and audiences alike.
func TestTokenExchangeStaysWithinConsent(t *testing.T) {
	h := newHarness(t)
	api := "https://api.example/"
	mcpRes := h.srv.URL + "/mcp"
	b := h.signedIn("alice")
	// alice's token from the web app: openid profile email, for /mcp and the API.
	v := authParams()
	v["resource"] = []string{mcpRes, api}
	user := h.redeem(h.code(b, v))
	if user.Status != 200 {
		t.Fatalf("web tokens: %v", user.JSON)
	}
	// alice signs in through the agent once, allowing it openid only
	// (and, naming no resource, the MCP endpoint only).
	agentAuthz := func(extra ...string) url.Values {
		return authParams(append([]string{"client_id", "agent", "redirect_uri", agentRedirect, "scope", "openid"}, extra...)...)
	}
	allow := func(resp *http.Response) {
		t.Helper()
		csrf, authz := consentForm(t, resp)
		resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		if q := redirectQuery(t, resp, agentRedirect); q.Get("code") == "" {
			t.Fatalf("consent: %v", q)
		}
	}
	allow(h.authorize(b, agentAuthz()))

	ex := func(extra ...string) tokenResult {
		return h.token("agent", "agent-secret", exchangeForm(user.Access, extra...))
	}
	// No scope asked: what both the subject token and the consent cover.
	r := ex()
	if r.Status != 200 {
		t.Fatalf("exchange: %v", r.JSON)
	}
	c := claims(t, r.Access)
	if c["scope"] != "openid" || c["aud"] != mcpRes {
		t.Errorf("exchanged token: scope %v aud %v, want openid and %s", c["scope"], c["aud"], mcpRes)
	}
	if r := ex("scope", "openid profile"); r.Error != "invalid_scope" {
		t.Errorf("scope beyond the consent: %d %v", r.Status, r.JSON)
	}
	if r := ex("audience", api); r.Error != "invalid_target" {
		t.Errorf("audience beyond the consent: %d %v", r.Status, r.JSON)
	}
	if r := ex("resource", api); r.Error != "invalid_target" {
		t.Errorf("resource beyond the consent: %d %v", r.Status, r.JSON)
	}
	// A request naming the API needs consent again; once given, the API
	// is within reach.
	allow(h.authorize(b, agentAuthz("resource", api)))
	if r := ex("audience", api); r.Status != 200 || claims(t, r.Access)["aud"] != api {
		t.Errorf("audience after consent: %d %v", r.Status, r.JSON)
	}

	// Even a first-party agent (no consent asked) stays within the subject
	// token: a /mcp token is not exchanged for the API.
	if err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "house-agent", Kind: store.KindAgent,
		SecretHash: hash(t, "house-secret"), FirstParty: true, Source: store.SourceTenant}); err != nil {
		t.Fatal(err)
	}
	mcpOnly := h.redeem(h.code(b, authParams()))
	if r := h.token("house-agent", "house-secret", exchangeForm(mcpOnly.Access, "resource", api)); r.Error != "invalid_target" {
		t.Errorf("first-party agent, audience beyond the subject token: %d %v", r.Status, r.JSON)
	}
	r = h.token("house-agent", "house-secret", exchangeForm(mcpOnly.Access))
	if c := claims(t, r.Access); r.Status != 200 || c["scope"] != "openid profile email" || c["aud"] != mcpRes {
		t.Errorf("first-party agent: %d %v", r.Status, r.JSON)
	}
}

func userinfo(h *harness, tok string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", h.url("/userinfo"), nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, body(h.t, resp)
}

func TestUserinfo(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	resp, b := userinfo(h, r.Access)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if want := `{"email":"alice@acme.example","preferred_username":"alice","sub":"alice"}`; strings.TrimSpace(b) != want {
		t.Errorf("userinfo %s, want %s", b, want)
	}
	// POST with the token in the body (RFC 6750 §2.2).
	pr := h.post("/userinfo", "", "", url.Values{"access_token": {r.Access}})
	if pr.Status != 200 || pr.JSON["sub"] != "alice" {
		t.Errorf("POST: %v", pr.JSON)
	}
	// The token's sub is the ID token's sub.
	if claims(t, r.ID)["sub"] != "alice" {
		t.Error("sub mismatch")
	}
	noOpenID := h.userTokens("scope", "profile")
	cc := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	for _, tc := range []struct {
		name, tok string
		status    int
		challenge string
	}{
		{"no token", "", 401, `Bearer realm=`},
		{"garbage", "x.y.z", 401, `Bearer error="invalid_token"`},
		{"ID token", r.ID, 401, `Bearer error="invalid_token"`},
		{"client token", cc.Access, 401, `Bearer error="invalid_token"`},
		{"no openid scope", noOpenID.Access, 403, `Bearer error="insufficient_scope"`},
	} {
		resp, _ := userinfo(h, tc.tok)
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), tc.challenge) {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Expired.
	h.clock.Advance(20 * time.Minute)
	if resp, _ := userinfo(h, r.Access); resp.StatusCode != 401 {
		t.Errorf("expired: %d", resp.StatusCode)
	}
}

func TestRevocation(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	// Another client's revocation is answered 200 and does nothing.
	if x := h.post("/revoke", "agent", "agent-secret", url.Values{"token": {r.Refresh}}); x.Status != 200 {
		t.Fatalf("foreign: %v", x.JSON)
	}
	if x := refresh(h, r.Refresh); x.Status != 200 {
		t.Fatalf("after a foreign revocation: %v", x.JSON)
	} else {
		r = x
	}
	// Revoking the access token: it no longer introspects, the refresh
	// token still works.
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r.Access}, "token_type_hint": {"access_token"}}); x.Status != 200 {
		t.Fatal(x.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}}); in.JSON["active"] != false {
		t.Errorf("revoked access token: %v", in.JSON)
	}
	if resp, _ := userinfo(h, r.Access); resp.StatusCode != 401 {
		t.Errorf("userinfo with a revoked token: %d", resp.StatusCode)
	}
	r2 := refresh(h, r.Refresh)
	if r2.Status != 200 {
		t.Fatalf("refresh after access revocation: %v", r2.JSON)
	}
	// Revoking the refresh token revokes the family.
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r2.Refresh}}); x.Status != 200 {
		t.Fatal(x.JSON)
	}
	if x := refresh(h, r2.Refresh); x.Error != "invalid_grant" {
		t.Errorf("revoked refresh: %v", x.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r2.Access}}); in.JSON["active"] != false {
		t.Errorf("family access token: %v", in.JSON)
	}
	if ev, ok := h.audit.last(audit.TokenRevoked); !ok || ev.Actor != "alice" || ev.Agent != "web" {
		t.Errorf("event %+v", ev)
	}
	// Unknown tokens: 200. No client: 401. No token: 400.
	if x := h.post("/revoke", "web", "web-secret", url.Values{"token": {"whatever"}}); x.Status != 200 {
		t.Errorf("unknown token: %d", x.Status)
	}
	if x := h.post("/revoke", "", "", url.Values{"token": {"whatever"}}); x.Status != 401 {
		t.Errorf("no client: %d", x.Status)
	}
	if x := h.post("/revoke", "web", "web-secret", url.Values{}); x.Error != "invalid_request" {
		t.Errorf("no token: %v", x.JSON)
	}
	// A public client revokes its own token by naming itself.
	if x := h.post("/revoke", "", "", url.Values{"client_id": {"native"}, "token": {"ghr_x"}}); x.Status != 200 {
		t.Errorf("public client: %d %v", x.Status, x.JSON)
	}
}

func TestIntrospection(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}})
	c := claims(t, r.Access)
	want := map[string]any{"active": true, "token_type": "Bearer", "scope": "openid profile email", "client_id": "web",
		"sub": "alice", "username": "alice", "aud": h.srv.URL + "/mcp", "iss": h.srv.URL, "jti": c["jti"],
		"exp": c["exp"], "iat": c["iat"]}
	if diff := cmp.Diff(want, in.JSON); diff != "" || in.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("access token (-want +got):\n%s", diff)
	}
	// Refresh tokens: only their own client learns about them.
	if x := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Refresh}}); x.JSON["active"] != true || x.JSON["username"] != "alice" {
		t.Errorf("own refresh token: %v", x.JSON)
	}
	if x := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Refresh}}); x.JSON["active"] != false {
		t.Errorf("foreign refresh token: %v", x.JSON)
	}
	_ = refresh(h, r.Refresh)
	if x := h.post("/introspect", "web", "web-secret", url.Values{"token": {r.Refresh}}); x.JSON["active"] != false {
		t.Errorf("used refresh token: %v", x.JSON)
	}
	for name, tc := range map[string]struct {
		id, secret string
		form       url.Values
		status     int
	}{
		"public client":   {"", "", url.Values{"client_id": {"native"}, "token": {r.Access}}, 401},
		"no client":       {"", "", url.Values{"token": {r.Access}}, 401},
		"wrong secret":    {"billing", "x", url.Values{"token": {r.Access}}, 401},
		"no token":        {"billing", "billing-secret", url.Values{}, 400},
		"garbage token":   {"billing", "billing-secret", url.Values{"token": {"nope"}}, 200},
		"ID token":        {"billing", "billing-secret", url.Values{"token": {r.ID}}, 200},
		"forged access":   {"billing", "billing-secret", url.Values{"token": {r.Access[:len(r.Access)-4] + "AAAA"}}, 200},
		"introspect hint": {"billing", "billing-secret", url.Values{"token": {r.Access}, "token_type_hint": {"refresh_token"}}, 200},
	} {
		x := h.post("/introspect", tc.id, tc.secret, tc.form)
		if x.Status != tc.status {
			t.Errorf("%s: %d %v", name, x.Status, x.JSON)
		}
		if tc.status == 200 && name != "introspect hint" && x.JSON["active"] != false {
			t.Errorf("%s: %v", name, x.JSON)
		}
	}
}

// The Introspect hook is asked first (permission slips are single use).
func TestIntrospectHook(t *testing.T) {
	var asked []string
	h := newHarness(t, func(p *Provider) {
		p.Introspect = func(_ context.Context, token, caller string, _ bool) (map[string]any, bool) {
			asked = append(asked, caller)
			if token == "slip-1" {
				return map[string]any{"active": true, "scope": "tool:sales_report"}, true
			}
			return nil, false
		}
	})
	x := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {"slip-1"}})
	if x.JSON["active"] != true || x.JSON["scope"] != "tool:sales_report" {
		t.Errorf("slip: %v", x.JSON)
	}
	r := h.userTokens()
	if x := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}}); x.JSON["active"] != true {
		t.Errorf("fall through: %v", x.JSON)
	}
	if !cmp.Equal(asked, []string{"billing", "billing"}) {
		t.Errorf("hook asked by %v", asked)
	}
	// The hook is not asked for unauthenticated callers.
	h.post("/introspect", "", "", url.Values{"token": {"slip-1"}})
	if len(asked) != 2 {
		t.Error("hook asked without client authentication")
	}
}

// A token stands only while every client of its delegation chain does:
// an earlier actor disabled or removed makes it invalid (userinfo, introspection, exchange and the admin API ask
// Standing).
func TestStandingChecksTheDelegationChain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := time.Now()
	c := accesstoken.Claims{Issuer: h.srv.URL, Subject: "alice", ClientID: "agent", GrantID: "g-1", JTI: "j-1",
		IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(),
		Act: &accesstoken.Actor{Sub: "agent", ClientID: "agent", Act: &accesstoken.Actor{Sub: "web", ClientID: "web"}}}
	if err := h.p.Standing(ctx, c); err != nil {
		t.Fatalf("standing chain: %v", err)
	}
	setDisabled := func(v bool) {
		t.Helper()
		if err := h.db.Clients().Update(ctx, "web", func(cl store.Client) (store.Client, error) {
			cl.Disabled = v
			return cl, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	h.p.ClientCacheTTL = -1
	setDisabled(true)
	if err := h.p.Standing(ctx, c); !errors.Is(err, accesstoken.ErrInvalid) || !strings.Contains(err.Error(), "delegation chain is disabled") {
		t.Errorf("web disabled: %v", err)
	}
	setDisabled(false)
	if err := h.db.Clients().Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Standing(ctx, c); !errors.Is(err, accesstoken.ErrInvalid) || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("web removed: %v", err)
	}
}

// A resource granted alone (the admin API) is refused in a request that
// names another resource with it, at every grant: no authorization, and
// so no refresh token, covers it and /mcp at once, and no token of a
// service client or of an exchange names both. Alone it is granted; other
// resources still go together.
func TestSoleResourceGrantedAlone(t *testing.T) {
	const adminAPI = "https://admin.example/api"
	h := newHarness(t, func(p *Provider) {
		p.Resources = append(p.Resources, adminAPI)
		p.SoleResources = []string{adminAPI}
	})
	mcp := h.p.MCPResource
	b := h.signedIn("alice")
	if err := h.db.Identity().SetConsent(context.Background(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, rs := range [][]string{{mcp, adminAPI}, {adminAPI, "https://api.example/"}} {
		params := nativeParams()
		for _, r := range rs {
			params.Add("resource", r)
		}
		if q := redirectQuery(t, h.authorize(b, params), nativeRedirect); q.Get("error") != "invalid_target" || !strings.Contains(q.Get("error_description"), "granted alone") {
			t.Errorf("authorize for %v: %v, want invalid_target", rs, q)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "resource": rs}
		if r := h.token("agent", "agent-secret", form); r.Status != 400 || r.JSON["error"] != "invalid_target" {
			t.Errorf("client_credentials for %v: %d %v, want invalid_target", rs, r.Status, r.JSON)
		}
		user := h.userTokens()
		ex := exchangeForm(user.Access)
		ex["resource"] = rs
		if r := h.token("agent", "agent-secret", ex); r.Status != 400 || r.JSON["error"] != "invalid_target" {
			t.Errorf("exchange for %v: %d %v, want invalid_target", rs, r.Status, r.JSON)
		}
	}
	// Alone, it is asked for as any resource is.
	resp := h.authorize(b, nativeParams("resource", adminAPI))
	if html := body(t, resp); resp.StatusCode != 200 || !strings.Contains(unescapeHTML(html), "Allow access?") {
		t.Errorf("authorize for the admin API alone: %d", resp.StatusCode)
	}
	// Other resources still go together.
	resp = h.authorize(b, nativeParams("resource", mcp, "resource", "https://api.example/"))
	if html := body(t, resp); resp.StatusCode != 200 || !strings.Contains(unescapeHTML(html), "Allow access?") {
		t.Errorf("authorize for /mcp and another resource: %d", resp.StatusCode)
	}
}
