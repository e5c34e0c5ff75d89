package e2e_test

// OpenID Connect relying parties nobody here wrote — openid-client v6,
// oauth4webapi and jose — sign a person in to a running Gatehouse with no
// browser: the scripts in interop/oidc play the browser with fetch and a
// cookie jar, fill the login form (and the consent form for a client that is
// not first-party), capture the redirect to the client and finish the flow
// with the library's own strict checks. Each script prints one JSON line;
// the tests here decide what it must say. The refusals the protocol demands
// (plain PKCE, a missing verifier, an unregistered redirect_uri, a replayed
// code) are driven with plain net/http in oidc_negative_test.go.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/google/go-cmp/cmp"
)

// Credentials of the OIDC tenant.
const (
	oidcUser     = "alice"
	oidcPassword = "correct horse battery staple"
	oidcEmail    = "alice@acme.example"

	oidcWebClient   = "acme-web" // first-party, confidential: no consent page
	oidcWebSecret   = "web-secret-0123456789abcdef0123456"
	oidcWebRedirect = "http://127.0.0.1:9000/callback"

	oidcCLIClient   = "acme-cli" // native, public, not first-party: consent
	oidcCLIRedirect = "http://127.0.0.1/callback"

	oidcServiceClient = "billing-api"
	oidcServiceSecret = "service-secret-0123456789abcdef01"

	oidcAgentClient = "acme-agent"
	oidcAgentSecret = "agent-secret-0123456789abcdef0123"
)

// oidcTenant is the tenant every test of this file serves.
const oidcTenant = `
tenant: acme
users:
  - username: alice
    email: alice@acme.example
    password: "correct horse battery staple"
  - username: bob
    email: bob@acme.example
    password: "another password for bob"
clients:
  - client_id: acme-web
    name: Acme Web
    kind: web
    secret: "web-secret-0123456789abcdef0123456"
    redirect_uris: ["http://127.0.0.1:9000/callback"]
    first_party: true
  - client_id: acme-cli
    name: Acme CLI
    kind: native
    redirect_uris: ["http://127.0.0.1/callback"]
  - client_id: billing-api
    kind: service
    secret: "service-secret-0123456789abcdef01"
  - client_id: acme-agent
    kind: agent
    first_party: true
    secret: "agent-secret-0123456789abcdef0123"
    redirect_uris: ["http://127.0.0.1:9001/callback"]
`

// oidcPeerTimeout bounds one script; each finishes in well under a second.
const oidcPeerTimeout = 20 * time.Second

// runOIDCPeer runs interop/oidc/<script> against gh and decodes its JSON
// line into out.
func runOIDCPeer(t *testing.T, gh *e2e.Gatehouse, script string, env map[string]string, out any) {
	t.Helper()
	vars := []string{"ISSUER=" + gh.URL, "NODE_NO_WARNINGS=1"}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	stdout, err := e2e.RunNode(t, oidcPeerTimeout, vars, "oidc/"+script)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s", script, err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("%s: cannot decode its result: %v\n%s", script, err, stdout)
	}
}

// oidcStep is one request of a script's headless browser.
type oidcStep struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Page   string `json:"page"`
}

// oidcOutcome is how a call the script made ended (see outcome in browser.mjs).
type oidcOutcome struct {
	OK               bool            `json:"ok"`
	Value            json.RawMessage `json:"value"`
	Name             string          `json:"name"`
	Message          string          `json:"message"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Status           int             `json:"status"`
	Challenges       []struct {
		Scheme     string            `json:"scheme"`
		Parameters map[string]string `json:"parameters"`
	} `json:"challenges"`
}

// refused checks that o is the refusal of an OAuth request with code (and
// HTTP status, when not 0).
func (o *oidcOutcome) refused(t *testing.T, what, code string, status int) {
	t.Helper()
	switch {
	case o == nil:
		t.Errorf("%s: not attempted", what)
	case o.OK:
		t.Errorf("%s: succeeded, want %s", what, code)
	case o.Error != code || status != 0 && o.Status != status:
		t.Errorf("%s: refused with error=%q status=%d (%s), want %s %d", what, o.Error, o.Status, o.Message, code, status)
	}
}

// oidcJWT is a token as jose verified and decoded it.
type oidcJWT struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// oidcCheckAccessToken checks an RFC 9068 access token as jose decoded it.
func oidcCheckAccessToken(t *testing.T, what string, at oidcJWT, issuer, sub, clientID string) {
	t.Helper()
	if at.Header["typ"] != "at+jwt" {
		t.Errorf("%s: typ = %v, want at+jwt", what, at.Header["typ"])
	}
	if at.Header["kid"] == nil {
		t.Errorf("%s: no kid in the header", what)
	}
	want := map[string]any{"iss": issuer, "aud": issuer + "/mcp", "sub": sub, "client_id": clientID}
	for k, v := range want {
		if at.Claims[k] != v {
			t.Errorf("%s: %s = %v, want %v", what, k, at.Claims[k], v)
		}
	}
	if _, ok := at.Claims["jti"].(string); !ok {
		t.Errorf("%s: no jti", what)
	}
	iat, _ := at.Claims["iat"].(float64)
	exp, _ := at.Claims["exp"].(float64)
	if iat == 0 || exp <= iat || exp-iat > 3600 {
		t.Errorf("%s: iat %v exp %v: want a short lifetime", what, at.Claims["iat"], at.Claims["exp"])
	}
}

// oidcCheckLoginSteps checks what the headless browser went through: the
// authorize endpoint sends it to the login form, whose POST answers 303,
// then (only for a client that is not first-party) the consent form, whose
// answer is the 303 to the client.
func oidcCheckLoginSteps(t *testing.T, steps []oidcStep, consent bool) {
	t.Helper()
	want := []oidcStep{
		{"GET", "/authorize", 303, ""},
		{"GET", "/login", 200, "login"},
		{"POST", "/login", 303, ""},
	}
	if consent {
		want = append(want, oidcStep{"GET", "/authorize", 200, "consent"}, oidcStep{"POST", "/consent", 303, ""})
	} else {
		want = append(want, oidcStep{"GET", "/authorize", 303, ""})
	}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("browser steps (-want +got):\n%s", diff)
	}
}

func TestOIDCOpenIDClient(t *testing.T) {
	e2e.Node22(t)
	gh := e2e.Start(t, oidcTenant, nil)
	var got struct {
		Issuer   string `json:"issuer"`
		Callback struct {
			Iss     string `json:"iss"`
			StateOK bool   `json:"state_ok"`
			HasCode bool   `json:"has_code"`
		} `json:"callback"`
		Steps           []oidcStep     `json:"steps"`
		SetCookies      []string       `json:"set_cookies"`
		TokenType       string         `json:"token_type"`
		Scope           string         `json:"scope"`
		ExpiresIn       float64        `json:"expires_in"`
		HasRefreshToken bool           `json:"has_refresh_token"`
		IDToken         oidcIDToken    `json:"id_token"`
		AccessToken     oidcJWT        `json:"access_token"`
		Userinfo        map[string]any `json:"userinfo"`
	}
	runOIDCPeer(t, gh, "openid_client.mjs", map[string]string{
		"CLIENT_ID": oidcWebClient, "CLIENT_SECRET": oidcWebSecret, "REDIRECT_URI": oidcWebRedirect,
		"USERNAME": oidcUser, "PASSWORD": oidcPassword, "SCOPE": "openid profile email",
	}, &got)

	if got.Issuer != gh.URL {
		t.Errorf("discovered issuer %q, want %q", got.Issuer, gh.URL)
	}
	if got.Callback.Iss != gh.URL || !got.Callback.StateOK || !got.Callback.HasCode {
		t.Errorf("callback: %+v, want iss %q, the state sent, a code", got.Callback, gh.URL)
	}
	oidcCheckLoginSteps(t, got.Steps, false)
	var session string
	for _, c := range got.SetCookies {
		if strings.HasPrefix(c, "gh_session=") && !strings.Contains(strings.ToLower(c), "max-age=0") {
			session = strings.ToLower(c)
		}
	}
	if !strings.Contains(session, "httponly") || !strings.Contains(session, "samesite=") {
		t.Errorf("session cookie %q: want HttpOnly and SameSite", session)
	}

	// token_type is case-insensitive (RFC 6749 §7.1); the libraries lower it.
	if !strings.EqualFold(got.TokenType, "Bearer") {
		t.Errorf("token_type %q, want Bearer", got.TokenType)
	}
	if got.Scope != "openid profile email" {
		t.Errorf("scope %q, want openid profile email", got.Scope)
	}
	if got.ExpiresIn <= 0 {
		t.Errorf("expires_in %v", got.ExpiresIn)
	}

	id := got.IDToken
	if id.Header["alg"] != "RS256" || id.Jose.Alg != "RS256" || id.Header["kid"] == nil {
		t.Errorf("ID token header %v: want RS256 with a kid", id.Header)
	}
	for k, v := range map[string]any{"iss": gh.URL, "sub": oidcUser, "aud": oidcWebClient,
		"preferred_username": oidcUser, "email": oidcEmail} {
		if id.Claims[k] != v {
			t.Errorf("ID token %s = %v, want %v", k, id.Claims[k], v)
		}
	}
	if !id.NonceOK || !id.AtHashOK || id.Jose.Sub != oidcUser {
		t.Errorf("ID token: nonce ok %v, at_hash ok %v, jose sub %q", id.NonceOK, id.AtHashOK, id.Jose.Sub)
	}
	for _, k := range []string{"auth_time", "iat", "exp", "sid"} {
		if id.Claims[k] == nil {
			t.Errorf("ID token has no %s", k)
		}
	}

	oidcCheckAccessToken(t, "access token", got.AccessToken, gh.URL, oidcUser, oidcWebClient)
	if got.AccessToken.Claims["scope"] != "openid profile email" {
		t.Errorf("access token scope %v", got.AccessToken.Claims["scope"])
	}
	if got.AccessToken.Claims["act"] != nil {
		t.Errorf("a direct login's access token carries act %v", got.AccessToken.Claims["act"])
	}

	want := map[string]any{"sub": oidcUser, "preferred_username": oidcUser, "email": oidcEmail}
	if diff := cmp.Diff(want, got.Userinfo); diff != "" {
		t.Errorf("userinfo (-want +got):\n%s", diff)
	}
}

func TestOIDCOAuth4WebAPI(t *testing.T) {
	e2e.Node22(t)
	gh := e2e.Start(t, oidcTenant, nil)
	var got struct {
		Steps           []oidcStep `json:"steps"`
		CallbackIss     string     `json:"callback_iss"`
		TokenType       string     `json:"token_type"`
		Scope           string     `json:"scope"`
		HasRefreshToken bool       `json:"has_refresh_token"`
		IDToken         struct {
			Claims map[string]any `json:"claims"`
			Alg    string         `json:"alg"`
		} `json:"id_token"`
		AccessToken oidcJWT        `json:"access_token"`
		Userinfo    map[string]any `json:"userinfo"`
		Second      struct {
			Steps   []oidcStep `json:"steps"`
			HasCode bool       `json:"has_code"`
		} `json:"second"`
		Refresh struct {
			First                oidcOutcome  `json:"first"`
			Rotated              bool         `json:"rotated"`
			UserinfoAfterRefresh *oidcOutcome `json:"userinfo_after_refresh"`
			Replay               oidcOutcome  `json:"replay"`
			AfterReplay          *oidcOutcome `json:"after_replay"`
			UserinfoAfterReplay  *oidcOutcome `json:"userinfo_after_replay"`
		} `json:"refresh"`
	}
	// The loopback redirect differs from the registered one in its port
	// only, as RFC 8252 §7.3 allows a native app.
	redirect := "http://127.0.0.1:49321/callback"
	const scope = "openid profile email offline_access"
	runOIDCPeer(t, gh, "oauth4webapi.mjs", map[string]string{
		"CLIENT_ID": oidcCLIClient, "REDIRECT_URI": redirect,
		"USERNAME": oidcUser, "PASSWORD": oidcPassword, "SCOPE": scope,
	}, &got)

	oidcCheckLoginSteps(t, got.Steps, true)
	if got.CallbackIss != gh.URL {
		t.Errorf("callback iss %q, want %q", got.CallbackIss, gh.URL)
	}
	if !strings.EqualFold(got.TokenType, "Bearer") || got.Scope != scope || !got.HasRefreshToken {
		t.Errorf("token response: token_type %q scope %q refresh token %v", got.TokenType, got.Scope, got.HasRefreshToken)
	}
	if got.IDToken.Alg != "RS256" || got.IDToken.Claims["sub"] != oidcUser || got.IDToken.Claims["aud"] != oidcCLIClient ||
		got.IDToken.Claims["iss"] != gh.URL || got.IDToken.Claims["email"] != oidcEmail {
		t.Errorf("ID token (%s): %v", got.IDToken.Alg, got.IDToken.Claims)
	}
	oidcCheckAccessToken(t, "access token", got.AccessToken, gh.URL, oidcUser, oidcCLIClient)
	want := map[string]any{"sub": oidcUser, "preferred_username": oidcUser, "email": oidcEmail}
	if diff := cmp.Diff(want, got.Userinfo); diff != "" {
		t.Errorf("userinfo (-want +got):\n%s", diff)
	}

	// Signed in and consented: the next authorization is a redirect at once.
	if diff := cmp.Diff([]oidcStep{{"GET", "/authorize", 303, ""}}, got.Second.Steps); diff != "" || !got.Second.HasCode {
		t.Errorf("second authorization (code %v), steps (-want +got):\n%s", got.Second.HasCode, diff)
	}

	r := got.Refresh
	if !r.First.OK {
		t.Fatalf("refresh: %+v", r.First)
	}
	if !r.Rotated {
		t.Errorf("refresh did not rotate the refresh token")
	}
	if u := r.UserinfoAfterRefresh; u == nil || !u.OK {
		t.Errorf("userinfo with the refreshed access token: %+v", u)
	}
	r.Replay.refused(t, "replayed refresh token", "invalid_grant", 400)
	r.AfterReplay.refused(t, "rotated refresh token after a replay (family revocation)", "invalid_grant", 400)
	if u := r.UserinfoAfterReplay; u == nil || u.OK || u.Status != 401 {
		t.Errorf("userinfo with an access token of the revoked family: %+v, want 401", u)
	}
}

func TestOIDCGrantsOpenIDClient(t *testing.T) {
	e2e.Node22(t)
	gh := e2e.Start(t, oidcTenant, nil)
	type issued struct {
		TokenType       string  `json:"token_type"`
		IssuedTokenType string  `json:"issued_token_type"`
		Scope           string  `json:"scope"`
		ExpiresIn       int     `json:"expires_in"`
		HasRefreshToken bool    `json:"has_refresh_token"`
		HasIDToken      bool    `json:"has_id_token"`
		AccessToken     oidcJWT `json:"access_token"`
	}
	var got struct {
		ClientCredentials issued      `json:"client_credentials"`
		WrongSecret       oidcOutcome `json:"wrong_secret"`
		Exchange          oidcOutcome `json:"exchange"`
		ExchangeByWebApp  oidcOutcome `json:"exchange_by_web_app"`
		ExchangeOfService oidcOutcome `json:"exchange_of_service_token"`
	}
	runOIDCPeer(t, gh, "grants.mjs", map[string]string{
		"USERNAME": oidcUser, "PASSWORD": oidcPassword,
		"WEB_ID": oidcWebClient, "WEB_SECRET": oidcWebSecret, "WEB_REDIRECT": oidcWebRedirect,
		"SERVICE_ID": oidcServiceClient, "SERVICE_SECRET": oidcServiceSecret,
		"AGENT_ID": oidcAgentClient, "AGENT_SECRET": oidcAgentSecret,
	}, &got)

	cc := got.ClientCredentials
	if !strings.EqualFold(cc.TokenType, "Bearer") || cc.HasRefreshToken || cc.HasIDToken || cc.ExpiresIn <= 0 {
		t.Errorf("client_credentials: %+v: want a Bearer access token only", cc)
	}
	// RFC 9068 §2.2: with no resource owner, sub is the client.
	oidcCheckAccessToken(t, "client_credentials token", cc.AccessToken, gh.URL, oidcServiceClient, oidcServiceClient)
	got.WrongSecret.refused(t, "client_credentials with a wrong secret", "invalid_client", 401)
	// A client that tried HTTP Basic is answered with a Basic challenge
	// (RFC 6749 §5.2).
	if c := got.WrongSecret.Challenges; len(c) != 1 || !strings.EqualFold(c[0].Scheme, "basic") {
		t.Errorf("wrong secret: challenges %+v, want one Basic challenge", c)
	}

	if !got.Exchange.OK {
		t.Fatalf("token exchange: %+v", got.Exchange)
	}
	var ex issued
	if err := json.Unmarshal(got.Exchange.Value, &ex); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(ex.TokenType, "Bearer") || ex.ExpiresIn <= 0 || ex.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" ||
		ex.HasRefreshToken || ex.HasIDToken {
		t.Errorf("token exchange response: %+v", ex)
	}
	oidcCheckAccessToken(t, "exchanged token", ex.AccessToken, gh.URL, oidcUser, oidcAgentClient)
	// The agent acts through the web app the person signed in with: its
	// token was the web app's (RFC 8693 §4.1: the prior actor nested).
	wantAct := map[string]any{"sub": oidcAgentClient, "client_id": oidcAgentClient,
		"act": map[string]any{"sub": oidcWebClient, "client_id": oidcWebClient}}
	if diff := cmp.Diff(wantAct, ex.AccessToken.Claims["act"]); diff != "" {
		t.Errorf("act (-want +got):\n%s", diff)
	}
	got.ExchangeByWebApp.refused(t, "token exchange by a web client", "unauthorized_client", 400)
	got.ExchangeOfService.refused(t, "token exchange of a client_credentials token", "invalid_grant", 400)
}

// oidcIDToken is what interop/oidc/openid_client.mjs reports of the ID
// token it received and checked.
type oidcIDToken struct {
	Header   map[string]any `json:"header"`
	Claims   map[string]any `json:"claims"`
	NonceOK  bool           `json:"nonce_ok"`
	AtHashOK bool           `json:"at_hash_ok"`
	Jose     struct {
		Alg string `json:"alg"`
		Sub string `json:"sub"`
	} `json:"jose"`
}
