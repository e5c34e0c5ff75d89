package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// An unknown client_id is refused without any password hashing: client IDs
// are not secrets, so there is nothing for argon2id to hide, and every
// such request used to cost a full argon2id run.
func TestUnknownClientFailsFast(t *testing.T) {
	h := newHarness(t)
	before := password.Computed()
	const n = 10
	for i := range n {
		path := []string{"/token", "/introspect", "/revoke"}[i%3]
		f := url.Values{"grant_type": {"client_credentials"}, "token": {"t"}}
		if r := h.post(path, "ghost", "any secret", f); r.Error != "invalid_client" {
			t.Fatalf("%s with an unknown client: %d %v", path, r.Status, r.JSON)
		}
	}
	if ran := password.Computed() - before; ran != 0 {
		t.Errorf("%d unknown-client requests ran %d argon2id computations, want none", n, ran)
	}
}

// Failed client authentications are counted per client and address, and
// per address, in the store; past the limit the client is refused from
// that address — with the very answer of a wrong secret — even with the
// right secret, even one the provider had verified and remembered, until
// the window passes. The throttling is in the audit trail. (From another
// address the right secret passes: TestClientLockoutFromElsewhere.)
func TestClientSecretThrottled(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser, p.MaxFailuresPerIP = 3, 100 })
	cc := url.Values{"grant_type": {"client_credentials"}}
	// The right secret, verified once: remembered from now on.
	if r := h.token("billing", "billing-secret", cc); r.Status != 200 {
		t.Fatalf("right secret: %v", r.JSON)
	}
	var wrong tokenResult
	for i := range 3 {
		// Any of the three endpoints counts.
		path := []string{"/token", "/introspect", "/revoke"}[i]
		wrong = h.post(path, "billing", "guess-"+path, url.Values{"grant_type": {"client_credentials"}, "token": {"t"}})
		if wrong.Status != 401 || wrong.Error != "invalid_client" {
			t.Fatalf("wrong secret %d at %s: %d %v", i, path, wrong.Status, wrong.JSON)
		}
	}
	r := h.token("billing", "billing-secret", cc)
	if r.Status != wrong.Status || r.Error != wrong.Error || r.JSON["error_description"] != wrong.JSON["error_description"] {
		t.Fatalf("right secret while throttled: %d %v, want the wrong secret's answer %v", r.Status, r.JSON, wrong.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {"t"}}); in.Error != "invalid_client" {
		t.Errorf("introspection while throttled: %v", in.JSON)
	}
	// Other clients are not affected.
	if r := h.token("agent", "agent-secret", cc); r.Status != 200 {
		t.Errorf("another client: %v", r.JSON)
	}
	ev, ok := h.audit.last(audit.ClientAuthFailed)
	if !ok || ev.Agent != "billing" || ev.Status != "refused" || ev.Detail["reason"] != "throttled" || ev.RemoteAddr == "" {
		t.Errorf("throttling not audited: %+v", ev)
	}
	if n := countEvents(h, audit.ClientAuthFailed); n != 3 {
		t.Errorf("%d client.auth_failed events, want 3 (two failures, then the throttling; refusals after it are not written)", n)
	}
	// The counters are in the database: a fresh provider on the same store
	// (another replica) refuses too.
	other := &Provider{Issuer: h.p.Issuer, Store: h.db, Keys: h.p.Keys, Now: h.clock.Now, MaxFailuresPerUser: 3}
	if err := other.Check(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", h.url("/token"), strings.NewReader(cc.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("billing", "billing-secret")
	req.RemoteAddr = "127.0.0.1:1234" // the guesses' address
	if _, _, e := other.authClient(t.Context(), req, map[string][]string(cc)); e == nil || e.Code != "invalid_client" {
		t.Errorf("another replica let the throttled client in: %v", e)
	}
	h.clock.Advance(h.p.window())
	if r := h.token("billing", "billing-secret", cc); r.Status != 200 {
		t.Errorf("right secret after the window: %v", r.JSON)
	}
}

// The per-address limit spans clients: one address guessing at many
// clients is stopped.
func TestClientSecretThrottledPerAddress(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser, p.MaxFailuresPerIP = 10, 4 })
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, id := range []string{"billing", "agent", "web", "ghost"} {
		if r := h.token(id, "guess", cc); r.Error != "invalid_client" {
			t.Fatalf("%s: %v", id, r.JSON)
		}
	}
	if r := h.token("billing", "billing-secret", cc); r.Error != "invalid_client" {
		t.Errorf("right secret from a throttled address: %v", r.JSON)
	}
	if ev, ok := h.audit.last(audit.ClientAuthFailed); !ok || ev.Detail["reason"] != "throttled" {
		t.Errorf("throttling not audited: %+v", ev)
	}
}

// A secret Gatehouse generates is stored as a SHA-256 digest and checked
// without argon2id; wrong secrets count, but cannot lock the client out: its
// 256 bits cannot be guessed at any rate.
func TestRegisteredSecretIsDigest(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 2 })
	r := h.register(`{"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}`)
	if r.Status != 201 {
		t.Fatalf("register: %v", r.JSON)
	}
	id, secret := r.JSON["client_id"].(string), r.JSON["client_secret"].(string)
	c, _ := h.db.Clients().Get(t.Context(), id)
	if !strings.HasPrefix(c.SecretHash, "$sha256$") || strings.Contains(c.SecretHash, secret) || c.SecretHash != secretDigest(secret) {
		t.Fatalf("stored secret %q", c.SecretHash)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	for range 3 {
		if r := h.token(id, secret+"x", cc); r.Error != "invalid_client" {
			t.Fatalf("wrong secret: %v", r.JSON)
		}
	}
	if ev, ok := h.audit.last(audit.ClientAuthFailed); !ok || ev.Agent != id || ev.Detail["reason"] != "throttled" {
		t.Errorf("failures not audited: %+v", ev)
	}
	if r := h.post("/introspect", id, secret, url.Values{"token": {"x"}}); r.Status != 200 {
		t.Errorf("the right generated secret after wrong ones: %d %v", r.Status, r.JSON)
	}
	// Argon2id hashes (tenant clients, and registrations made before) still verify.
	if r := h.token("billing", "billing-secret", cc); r.Status != 200 {
		t.Errorf("argon2id secret: %v", r.JSON)
	}
}

// What a client registers is what it may do at the token endpoint.
func TestRegisteredGrantTypesEnforced(t *testing.T) {
	h := newHarness(t)
	// The RFC 7591 default: authorization_code only.
	r := h.register(`{"redirect_uris":["https://agent.example/cb"]}`)
	if r.Status != 201 {
		t.Fatalf("register: %v", r.JSON)
	}
	id, secret := r.JSON["client_id"].(string), r.JSON["client_secret"].(string)
	if c, _ := h.db.Clients().Get(t.Context(), id); len(c.GrantTypes) != 1 || c.GrantTypes[0] != grantCode ||
		c.TokenEndpointAuthMethod != authBasic {
		t.Fatalf("stored %+v", c)
	}
	if tr := h.token(id, secret, url.Values{"grant_type": {"client_credentials"}}); tr.Status != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("client_credentials: %d %v", tr.Status, tr.JSON)
	}
	user := h.userTokens()
	te := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {user.Access}, "subject_token_type": {tokenTypeAccess}}
	if tr := h.token(id, secret, te); tr.Status != 400 || tr.Error != "unauthorized_client" {
		t.Errorf("token exchange: %d %v", tr.Status, tr.JSON)
	}
	// The code flow works, without a refresh token it did not register for.
	codeFlow := func(id, secret string) tokenResult {
		t.Helper()
		b := h.signedIn("alice")
		v := authParams("client_id", id, "redirect_uri", "https://agent.example/cb")
		csrf, authz := consentForm(t, h.authorize(b, v))
		resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		q := redirectQuery(t, resp, "https://agent.example/cb?")
		return h.token(id, secret, url.Values{"grant_type": {grantCode}, "code": {q.Get("code")},
			"code_verifier": {verifier}, "redirect_uri": {"https://agent.example/cb"}})
	}
	if tr := codeFlow(id, secret); tr.Status != 200 || tr.Access == "" || tr.Refresh != "" {
		t.Errorf("code flow: %d %v", tr.Status, tr.JSON)
	}
	// Registered with refresh_token, it gets and uses one.
	r = h.register(`{"redirect_uris":["https://agent.example/cb"],"grant_types":["authorization_code","refresh_token"],
		"token_endpoint_auth_method":"client_secret_post"}`)
	id2, secret2 := r.JSON["client_id"].(string), r.JSON["client_secret"].(string)
	post := func(f url.Values) tokenResult {
		f.Set("client_id", id2)
		f.Set("client_secret", secret2)
		return h.post("/token", "", "", f)
	}
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, authParams("client_id", id2, "redirect_uri", "https://agent.example/cb")))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	q := redirectQuery(t, resp, "https://agent.example/cb?")
	tr := post(url.Values{"grant_type": {grantCode}, "code": {q.Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"https://agent.example/cb"}})
	if tr.Status != 200 || tr.Refresh == "" {
		t.Fatalf("code flow with refresh_token registered: %v", tr.JSON)
	}
	if rr := post(url.Values{"grant_type": {grantRefresh}, "refresh_token": {tr.Refresh}}); rr.Status != 200 {
		t.Errorf("refresh: %v", rr.JSON)
	}
	// It registered client_secret_post: Basic is not its method.
	if rr := h.token(id2, secret2, url.Values{"grant_type": {grantRefresh}, "refresh_token": {"x"}}); rr.Error != "invalid_client" {
		t.Errorf("Basic for a client_secret_post client: %v", rr.JSON)
	}
	// Tenant clients (no registered grant types) keep their kind's grants.
	if tr := h.token("agent", "agent-secret", url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 {
		t.Errorf("tenant agent, client_credentials: %v", tr.JSON)
	}
	if tr := h.userTokens(); tr.Refresh == "" {
		t.Errorf("tenant web client lost its refresh token: %v", tr.JSON)
	}
}

// A disabled client is refused like an unknown one — at /authorize, /token,
// /introspect — and the tokens it already holds stop introspecting active.
func TestDisabledClient(t *testing.T) {
	h := newHarness(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	held := h.token("agent", "agent-secret", cc)
	if held.Status != 200 {
		t.Fatal(held.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {held.Access}}); in.JSON["active"] != true {
		t.Fatalf("before: %v", in.JSON)
	}
	if err := h.db.Clients().Update(t.Context(), "agent", func(c store.Client) (store.Client, error) {
		c.Disabled = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second) // the client cache's bound
	if r := h.token("agent", "agent-secret", cc); r.Status != 401 || r.Error != "invalid_client" {
		t.Errorf("token for a disabled client: %d %v", r.Status, r.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {held.Access}}); in.JSON["active"] != false {
		t.Errorf("its token still introspects %v", in.JSON)
	}
	if in := h.post("/introspect", "agent", "agent-secret", url.Values{"token": {held.Access}}); in.Error != "invalid_client" {
		t.Errorf("a disabled client introspects: %v", in.JSON)
	}
	resp := h.authorize(h.signedIn("alice"), authParams("client_id", "agent", "redirect_uri", agentRedirect))
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		t.Errorf("authorize for a disabled client redirected to %s", resp.Header.Get("Location"))
	}
	if ev, ok := h.audit.last(audit.ClientAuthFailed); !ok || ev.Agent != "agent" || ev.Detail["reason"] != "disabled" {
		t.Errorf("refusal not audited: %+v", ev)
	}
}

func countEvents(h *harness, typ string) int {
	n := 0
	for _, t := range h.audit.types() {
		if t == typ {
			n++
		}
	}
	return n
}
