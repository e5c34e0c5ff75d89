package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

func TestCodeIsSingleUse(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams())
	first := h.redeem(code)
	if first.Status != 200 {
		t.Fatalf("first use: %v", first.JSON)
	}
	second := h.redeem(code)
	if second.Status != 400 || second.Error != "invalid_grant" {
		t.Fatalf("second use: %d %v", second.Status, second.JSON)
	}
	// What the first use issued is revoked: its refresh token, and its
	// access token as introspection sees it.
	r := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}})
	if r.Error != "invalid_grant" {
		t.Errorf("refresh after code reuse: %v", r.JSON)
	}
	in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {first.Access}})
	if in.JSON["active"] != false {
		t.Errorf("introspection after code reuse: %v", in.JSON)
	}
	if _, ok := h.audit.last(audit.TokenReuse); !ok {
		t.Error("no reuse event")
	}
	// Replays with a wrong verifier are replays too.
	if r := h.redeem(code, "code_verifier", strings.Repeat("a", 43)); r.Error != "invalid_grant" {
		t.Errorf("replay with a wrong verifier: %v", r.JSON)
	}
}

func TestCodeReuseRaces(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams())
	results := make(chan tokenResult, 8)
	for range 8 {
		go func() { results <- h.redeem(code) }()
	}
	ok := 0
	for range 8 {
		if r := <-results; r.Status == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent redemptions succeeded, want 1", ok)
	}
}

func TestCodeRefusals(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	for _, tc := range []struct {
		name  string
		extra []string
		error string
	}{
		{"no verifier", []string{"code_verifier", ""}, "invalid_grant"},
		{"wrong verifier", []string{"code_verifier", strings.Repeat("x", 43)}, "invalid_grant"},
		{"short verifier", []string{"code_verifier", "abc"}, "invalid_grant"},
		{"the challenge as verifier", []string{"code_verifier", challenge}, "invalid_grant"},
		{"other redirect_uri", []string{"redirect_uri", "https://app.example/cb?x=1"}, "invalid_grant"},
		{"no code", []string{"code", ""}, "invalid_request"},
		{"unknown code", []string{"code", "ghc_nope"}, "invalid_grant"},
		{"no grant_type", []string{"grant_type", ""}, "invalid_request"},
		{"implicit grant", []string{"grant_type", "password"}, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := h.code(b, authParams())
			extra := append([]string{"code", code}, tc.extra...)
			r := h.redeem(code, extra[2:]...)
			if tc.name == "no code" || tc.name == "unknown code" {
				r = h.redeem(extra[1], tc.extra...)
			}
			if r.Status != 400 || r.Error != tc.error || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v, want %s", r.Status, r.JSON, tc.error)
			}
			if _, ok := r.JSON["error_description"]; !ok {
				t.Error("no error_description")
			}
			// A failed presentation does not burn the code.
			if tc.error == "invalid_grant" && tc.name != "unknown code" {
				if ok := h.redeem(code); ok.Status != 200 {
					t.Errorf("the code is spoiled: %v", ok.JSON)
				}
			}
		})
	}
	// Another client cannot redeem the web client's code.
	code := h.code(b, authParams())
	r := h.token("agent", "agent-secret", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {webRedirect}})
	if r.Error != "invalid_grant" {
		t.Errorf("another client: %v", r.JSON)
	}
	// redirect_uri may be omitted at the token endpoint (OAuth 2.1).
	if r := h.redeem(code, "redirect_uri", ""); r.Status != 200 {
		t.Errorf("without redirect_uri: %v", r.JSON)
	}
}

func TestCodeExpires(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams())
	h.clock.Advance(61 * time.Second)
	if r := h.redeem(code); r.Error != "invalid_grant" {
		t.Errorf("a 61 s old code: %v", r.JSON)
	}
	h.p.CodeTTL = 10 * time.Minute // more than 60 s is not honoured
	code = h.code(b, authParams())
	h.clock.Advance(61 * time.Second)
	if r := h.redeem(code); r.Error != "invalid_grant" {
		t.Errorf("CodeTTL above 60 s: %v", r.JSON)
	}
}

// A replay that comes after the code expired is still a replay: what the
// first use issued is revoked.
func TestCodeReplayAfterExpiryRevokes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		purge bool // a purge of expired records runs between the uses
	}{
		{"late", false},
		// The used marker must outlive the purge as long as the code does:
		// once forgotten, the replay would read as an expired code and
		// revoke nothing.
		{"after purge", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			b := h.signedIn("alice")
			code := h.code(b, authParams())
			first := h.redeem(code)
			if first.Status != 200 {
				t.Fatalf("first use: %v", first.JSON)
			}
			h.clock.Advance(61 * time.Second)
			if tc.purge {
				if err := h.p.Purge(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if r := h.redeem(code); r.Status != 400 || r.Error != "invalid_grant" {
				t.Fatalf("replay after expiry: %d %v", r.Status, r.JSON)
			}
			if _, ok := h.audit.last(audit.TokenReuse); !ok {
				t.Error("no reuse event")
			}
			r := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}})
			if r.Error != "invalid_grant" {
				t.Errorf("refresh after a late replay: %v", r.JSON)
			}
			if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {first.Access}}); in.JSON["active"] != false {
				t.Errorf("introspection after a late replay: %v", in.JSON)
			}
		})
	}
}

func TestCodeOfDisabledUser(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("bob")
	code := h.code(b, authParams())
	_ = h.db.Users().Update(t.Context(), "bob", func(u store.User) (store.User, error) { u.Disabled = true; return u, nil })
	if r := h.redeem(code); r.Error != "invalid_grant" {
		t.Errorf("disabled user: %v", r.JSON)
	}
}

func refresh(h *harness, tok string, extra ...string) tokenResult {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return h.token("web", "web-secret", f)
}

func TestRefreshRotation(t *testing.T) {
	h := newHarness(t)
	r0 := h.userTokens()
	r1 := refresh(h, r0.Refresh)
	if r1.Status != 200 || r1.Refresh == "" || r1.Refresh == r0.Refresh || r1.ID == "" {
		t.Fatalf("refresh: %v", r1.JSON)
	}
	c0, c1 := claims(t, r0.Access), claims(t, r1.Access)
	if c0["gid"] != c1["gid"] || c0["sid"] != c1["sid"] || c1["sub"] != "alice" || c0["jti"] == c1["jti"] {
		t.Errorf("claims across a refresh: %v / %v", c0, c1)
	}
	if claims(t, r1.ID)["nonce"] != nil {
		t.Error("a refreshed ID token carries the nonce")
	}
	// Narrower scope is fine; wider is not.
	r2 := refresh(h, r1.Refresh, "scope", "openid")
	if r2.Status != 200 || r2.JSON["scope"] != "openid" {
		t.Fatalf("narrower: %v", r2.JSON)
	}
	// The narrowed rotation keeps the grant's whole scope.
	r3 := refresh(h, r2.Refresh)
	if r3.JSON["scope"] != "openid profile email" {
		t.Errorf("after a narrowed refresh: %v", r3.JSON)
	}
	if r := refresh(h, r3.Refresh, "scope", "openid tools"); r.Error != "invalid_scope" {
		t.Errorf("wider: %v", r.JSON)
	}
	// Reuse of an old token revokes the family: the newest token too.
	if r := refresh(h, r0.Refresh); r.Error != "invalid_grant" {
		t.Fatalf("reuse: %v", r.JSON)
	}
	if ev, ok := h.audit.last(audit.TokenReuse); !ok || ev.Actor != "alice" || ev.Agent != "web" {
		t.Errorf("reuse event %+v", ev)
	}
	if r := refresh(h, r3.Refresh); r.Error != "invalid_grant" {
		t.Errorf("family member after reuse: %v", r.JSON)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r3.Access}}); in.JSON["active"] != false {
		t.Errorf("access token after reuse: %v", in.JSON)
	}
	if got := h.audit.types(); !contains(got, audit.TokenRefreshed) {
		t.Errorf("events %v", got)
	}
}

func TestRefreshRefusals(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	if x := h.token("agent", "agent-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); x.Error != "invalid_grant" {
		t.Errorf("another client: %v", x.JSON)
	}
	if x := refresh(h, ""); x.Error != "invalid_request" {
		t.Errorf("no token: %v", x.JSON)
	}
	if x := refresh(h, "ghr_nope"); x.Error != "invalid_grant" {
		t.Errorf("unknown: %v", x.JSON)
	}
	// Another client's refusal did not burn it.
	if x := refresh(h, r.Refresh); x.Status != 200 {
		t.Fatalf("after refusals: %v", x.JSON)
	}
	// Expiry: an unused refresh token dies after RefreshTokenTTL.
	r = h.userTokens()
	h.clock.Advance(15 * 24 * time.Hour)
	if x := refresh(h, r.Refresh); x.Error != "invalid_grant" {
		t.Errorf("expired: %v", x.JSON)
	}
}

func TestClientCredentials(t *testing.T) {
	h := newHarness(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	r := h.token("billing", "billing-secret", cc)
	if r.Status != 200 || r.Refresh != "" || r.ID != "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("basic: %d %v", r.Status, r.JSON)
	}
	c := claims(t, r.Access)
	if c["sub"] != "billing" || c["client_id"] != "billing" || c["aud"] != h.srv.URL+"/mcp" || c["gid"] != nil {
		t.Errorf("claims %v", c)
	}
	// client_secret_post; scope and resource.
	r = h.post("/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing"},
		"client_secret": {"billing-secret"}, "scope": {"tools openid"}, "resource": {"https://api.example/"}})
	if r.Status != 200 || r.JSON["scope"] != "tools" || claims(t, r.Access)["aud"] != "https://api.example/" {
		t.Errorf("post: %v", r.JSON)
	}
	if ev, ok := h.audit.last(audit.TokenIssued); !ok || ev.Agent != "billing" || ev.Actor != "" {
		t.Errorf("event %+v", ev)
	}
	for _, tc := range []struct {
		name   string
		id     string
		secret string
		form   url.Values
		status int
		error  string
	}{
		{"wrong secret", "billing", "nope", cc, 401, "invalid_client"},
		{"unknown client", "ghost", "x", cc, 401, "invalid_client"},
		{"no authentication", "", "", cc, 401, "invalid_client"},
		{"public client", "native", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"native"}}, 400, "unauthorized_client"},
		{"web client", "web", "web-secret", cc, 400, "unauthorized_client"},
		{"two methods", "billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "client_secret": {"billing-secret"}}, 400, "invalid_request"},
		{"secret-less confidential", "billing", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing"}}, 401, "invalid_client"},
		{"unknown resource", "billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://x.example/"}}, 400, "invalid_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r tokenResult
			if tc.secret != "" {
				r = h.token(tc.id, tc.secret, tc.form)
			} else {
				r = h.post("/token", "", "", tc.form)
			}
			if r.Status != tc.status || r.Error != tc.error {
				t.Fatalf("%d %v, want %d %s", r.Status, r.JSON, tc.status, tc.error)
			}
			if tc.status == 401 && tc.secret != "" && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// The form body must be form-encoded.
	req, _ := http.NewRequest("POST", h.url("/token"), strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("billing", "billing-secret")
	if r := h.do(req); r.Error != "invalid_request" {
		t.Errorf("JSON body: %v", r.JSON)
	}
}

// A changed secret in the store invalidates the cached digest of the old one.
func TestSecretCacheFollowsTheStore(t *testing.T) {
	h := newHarness(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := h.token("billing", "billing-secret", cc); r.Status != 200 {
		t.Fatal(r.JSON)
	}
	_ = h.db.Clients().Update(t.Context(), "billing", func(c store.Client) (store.Client, error) {
		c.SecretHash = hash(t, "rotated")
		return c, nil
	})
	// The client record itself is reused for ClientCacheTTL (1 s).
	h.clock.Advance(time.Second)
	if r := h.token("billing", "billing-secret", cc); r.Error != "invalid_client" {
		t.Errorf("old secret after rotation: %v", r.JSON)
	}
	if r := h.token("billing", "rotated", cc); r.Status != 200 {
		t.Errorf("new secret: %v", r.JSON)
	}
}

// Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
func TestBasicAuthEncoding(t *testing.T) {
	h := newHarness(t)
	_ = h.db.Clients().Create(t.Context(), store.Client{ClientID: "odd id", Kind: store.KindService,
		SecretHash: hash(t, "s3cr+t&/=")})
	if r := h.token("odd id", "s3cr+t&/=", url.Values{"grant_type": {"client_credentials"}}); r.Status != 200 {
		t.Errorf("encoded Basic: %v", r.JSON)
	}
}

func TestAuditFailureWithholdsTokens(t *testing.T) {
	h := newHarness(t)
	h.audit.fail = true
	r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	if r.Status != 500 || r.Error != "server_error" || r.Access != "" {
		t.Errorf("with a failing audit: %d %v", r.Status, r.JSON)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTokenEventsSayWhatWasIssued: the stored token.issued,
// token.refreshed, token.exchanged and token.revoked records name what was
// issued or revoked in keys the audit trail keeps, rather than under keys
// it redacts as secrets (refresh_token, id_token): a client_credentials
// token reads as an access token alone.
func TestTokenEventsSayWhatWasIssued(t *testing.T) {
	h := newHarness(t)
	l := h.durableAudit()

	cc := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}})
	user := h.userTokens("scope", "openid offline_access")
	agent := h.token("agent", "agent-secret", url.Values{"grant_type": {"client_credentials"}})
	if cc.Status != 200 || agent.Status != 200 || user.Refresh == "" || user.ID == "" {
		t.Fatalf("tokens: %d %d %d %q", cc.Status, agent.Status, user.Status, user.Error)
	}
	refreshed := refresh(h, user.Refresh)
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	exchanged := h.token("agent", "agent-secret", exchangeForm(user.Access))
	revoked := h.post("/revoke", "web", "web-secret", url.Values{"token": {refreshed.Refresh}})
	if refreshed.Status != 200 || exchanged.Status != 200 || revoked.Status != 200 {
		t.Fatalf("refresh %d %q, exchange %d %q, revoke %d", refreshed.Status, refreshed.Error,
			exchanged.Status, exchanged.Error, revoked.Status)
	}

	issued := func(e audit.Entry) []string {
		var out []string
		v, _ := e.Event.Detail["issued"].([]any)
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	want := map[string][][]string{
		audit.TokenIssued: {
			{"access_token"}, // billing, client_credentials
			{"access_token", "refresh_token", "id_token"}, // alice, code
			{"access_token"}, // agent, client_credentials
		},
		audit.TokenRefreshed: {{"access_token", "refresh_token", "id_token"}},
		audit.TokenExchanged: {{"access_token"}},
	}
	for typ, wants := range want {
		got := stored(t, l, typ)
		if len(got) != len(wants) {
			t.Fatalf("%d %s records, want %d", len(got), typ, len(wants))
		}
		for i, e := range got {
			if diff := cmp.Diff(wants[i], issued(e)); diff != "" {
				t.Errorf("%s #%d issued (-want +got):\n%s\n%s", typ, i, diff, e.Raw)
			}
		}
	}
	for _, typ := range []string{audit.TokenIssued, audit.TokenRefreshed, audit.TokenExchanged, audit.TokenRevoked} {
		for _, e := range stored(t, l, typ) {
			if strings.Contains(string(e.Raw), audit.Redacted) {
				t.Errorf("%s record with a redacted value: %s", typ, e.Raw)
			}
		}
	}
	if got := stored(t, l, audit.TokenRevoked); len(got) != 1 || got[0].Event.Detail["token_type"] != "refresh_token" {
		t.Errorf("token.revoked: %v", got)
	}
}

// A token response names the scope granted, empty when none was: a
// request whose scopes were all dropped (unknown here, or of a person
// for a client acting for itself) is not refused, but must not read as
// granted as asked (RFC 6749 §5.1).
func TestTokenResponseNamesAnEmptyGrant(t *testing.T) {
	h := newHarness(t)
	for _, scope := range []string{"claudeai", "openid profile", ""} {
		r := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
		if got, ok := r.JSON["scope"]; r.Status != 200 || !ok || got != "" {
			t.Errorf("client_credentials asking for %q: %d %v, want scope \"\"", scope, r.Status, r.JSON)
		}
		if c := claims(t, r.Access); c["scope"] != nil {
			t.Errorf("client_credentials asking for %q: claims %v", scope, c)
		}
	}
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams("scope", "claudeai")))
	if got, ok := r.JSON["scope"]; r.Status != 200 || !ok || got != "" || r.ID != "" {
		t.Errorf("authorization code asking for an unknown scope: %d %v, want scope \"\"", r.Status, r.JSON)
	}
	r = h.redeem(h.code(b, authParams("scope", "openid claudeai")))
	if r.Status != 200 || r.JSON["scope"] != "openid" {
		t.Errorf("authorization code asking for openid and an unknown scope: %d %v", r.Status, r.JSON)
	}
}
