package identity

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// fakeUpstream is a small OpenID provider: it signs in whoever it is told
// to, and can be told to misbehave.
type fakeUpstream struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	mu      sync.Mutex
	claims  map[string]any               // what the next ID token says about the person
	tamper  func(claims map[string]any)  // changes the next ID token's claims
	header  map[string]any               // replaces the ID token header when set
	sigWith *rsa.PrivateKey              // signs with another key when set
	iss     string                       // the iss parameter sent back ("" = the issuer)
	tokenTo string                       // when set, the token endpoint redirects (307) there
	codes   map[string]map[string]string // code → the authorization request
	asked   url.Values                   // the last authorization request
	fetched int                          // discovery documents served
	meta    map[string]any               // replaces fields of the discovery document when set
	keysOut bool                         // the JWKS endpoint answers 503 when set
	meOut   bool                         // the userinfo endpoint answers 503 when set
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{key: key, codes: map[string]map[string]string{}}
	mux := http.NewServeMux()
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	b64 := base64.RawURLEncoding
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{"issuer": u.srv.URL, "authorization_endpoint": u.srv.URL + "/auth",
			"token_endpoint": u.srv.URL + "/token", "jwks_uri": u.srv.URL + "/jwks", "userinfo_endpoint": u.srv.URL + "/me",
			"authorization_response_iss_parameter_supported": true}
		u.mu.Lock()
		u.fetched++
		for k, v := range u.meta {
			doc[k] = v
		}
		u.mu.Unlock()
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		out := u.keysOut
		u.mu.Unlock()
		if out {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k1", "use": "sig",
			"alg": "RS256", "n": b64.EncodeToString(key.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := randomID()
		u.mu.Lock()
		u.asked = q
		u.codes[code] = map[string]string{"nonce": q.Get("nonce"), "challenge": q.Get("code_challenge"),
			"redirect_uri": q.Get("redirect_uri"), "client_id": q.Get("client_id")}
		iss := u.iss
		u.mu.Unlock()
		if iss == "" {
			iss = u.srv.URL
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {iss}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		to := u.tokenTo
		u.mu.Unlock()
		if to != "" {
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
			return
		}
		id, secret, _ := r.BasicAuth()
		_ = r.ParseForm()
		u.mu.Lock()
		defer u.mu.Unlock()
		req, ok := u.codes[r.PostForm.Get("code")]
		delete(u.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || id != "gatehouse" || secret != "up-secret" || req["redirect_uri"] != r.PostForm.Get("redirect_uri") ||
			b64.EncodeToString(sum[:]) != req["challenge"] {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		c := map[string]any{"iss": u.srv.URL, "aud": "gatehouse", "exp": time.Now().Add(time.Minute).Unix(),
			"iat": time.Now().Unix(), "nonce": req["nonce"]}
		for k, v := range u.claims {
			c[k] = v
		}
		if u.tamper != nil {
			u.tamper(c)
		}
		hdr := map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}
		if u.header != nil {
			hdr = u.header
		}
		hb, _ := json.Marshal(hdr)
		pb, _ := json.Marshal(c)
		input := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
		signer := u.key
		if u.sigWith != nil {
			signer = u.sigWith
		}
		d := sha256.Sum256([]byte(input))
		sig, _ := rsa.SignPKCS1v15(nil, signer, 5 /* crypto.SHA256 */, d[:])
		_ = json.NewEncoder(w).Encode(map[string]any{"id_token": input + "." + b64.EncodeToString(sig),
			"access_token": "up-at", "token_type": "Bearer"})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.meOut {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": u.claims["sub"], "groups": []string{"Sales"}})
	})
	return u
}

func (u *fakeUpstream) set(f func(u *fakeUpstream)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

// fedHarness is a harness with the connection okta to a fake upstream;
// opts then change its provider.
func fedHarness(t *testing.T, opts ...func(*Provider)) (*harness, *fakeUpstream) {
	up := newFakeUpstream(t)
	up.claims = map[string]any{"sub": "00u1", "preferred_username": "alice.up", "email": "alice@up.example",
		"email_verified": true, "groups": []any{"Sales", "Everyone"}}
	h := newHarness(t, append([]func(*Provider){func(p *Provider) {
		p.Connections = []*Connection{{Name: "okta", DisplayName: "Okta", Issuer: up.srv.URL, ClientID: "gatehouse",
			ClientSecret: "up-secret", RolesClaim: "groups", RoleMap: map[string][]string{"Sales": {"sales-manager"},
				"Admins": {"admin"}}, DefaultRoles: []string{"staff"}}}
	}}, opts...)...)
	// The roles the connection gives exist, as a tenant file that names
	// them in a connection creates them (a sign-in gives no other).
	createRoles(t, h, "admin", "sales-manager", "staff")
	return h, up
}

func createRoles(t *testing.T, h *harness, names ...string) {
	t.Helper()
	for _, r := range names {
		if err := h.db.Roles().Create(t.Context(), store.Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
}

// fedSignIn starts at the login page's Okta button and returns the response
// of Gatehouse's callback.
func fedSignIn(t *testing.T, h *harness, b *http.Client, authz url.Values) *http.Response {
	t.Helper()
	resp, err := b.Get(h.url("/login?authz=" + url.QueryEscape(authz.Encode())))
	if err != nil {
		t.Fatal(err)
	}
	resp = pressOkta(t, h, b, body(t, resp)) // → the upstream
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	up := resp.Header.Get("Location")
	resp, err = b.Get(up) // the upstream signs in and sends back
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	resp, err = b.Get(resp.Header.Get("Location")) // Gatehouse's callback
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// pressOkta submits the login page's Okta button, as a browser does, and
// returns Gatehouse's answer (a redirect to the upstream).
func pressOkta(t *testing.T, h *harness, b *http.Client, html string) *http.Response {
	t.Helper()
	resp, err := b.PostForm(h.url("/login/okta"), formFields(t, html, h.url("/login/okta")))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// formFields returns the fields of the page's form whose action is action.
func formFields(t *testing.T, html, action string) url.Values {
	t.Helper()
	i := strings.Index(html, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("no form for %s:\n%s", action, html)
	}
	form := html[i:]
	form = form[:strings.Index(form, "</form>")]
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`).FindAllStringSubmatch(form, -1) {
		v.Set(m[1], unescapeHTML(m[2]))
	}
	return v
}

func TestFederatedSignIn(t *testing.T) {
	h, up := fedHarness(t)
	b := h.browser()
	resp := fedSignIn(t, h, b, authParams())
	body(t, resp)
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, h.url("/authorize?")) {
		t.Fatalf("callback: %d %q", resp.StatusCode, back)
	}
	resp, _ = b.Get(back)
	q := redirectQuery(t, resp, webRedirect)
	r := h.redeem(q.Get("code"))
	if r.Status != 200 || claims(t, r.ID)["sub"] != "okta:00u1" || claims(t, r.ID)["amr"].([]any)[0] != "fed" {
		t.Fatalf("tokens: %v", r.JSON)
	}
	u, err := h.db.Users().Get(t.Context(), "okta:00u1")
	if err != nil || !slices.Equal(u.Roles, []string{"sales-manager", "staff"}) || u.Email != "alice@up.example" ||
		u.Attributes[attrIdPSub] != "00u1" || u.PasswordHash != "" {
		t.Fatalf("user %+v %v", u, err)
	}
	if ev, ok := h.audit.last(audit.LoginSucceeded); !ok || ev.Actor != "okta:00u1" || ev.Detail["connection"] != "okta" {
		t.Errorf("event %+v", ev)
	}
	// An admin assigns a role here; the next sign-in maps new groups and
	// keeps the assigned role.
	_ = h.db.Users().Update(t.Context(), u.Username, func(u store.User) (store.User, error) {
		u.Roles = append(u.Roles, "auditor")
		return u, nil
	})
	up.set(func(u *fakeUpstream) { u.claims["groups"] = []any{"Admins"} })
	resp = fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	u, _ = h.db.Users().Get(t.Context(), "okta:00u1")
	if !slices.Equal(u.Roles, []string{"admin", "auditor", "staff"}) {
		t.Errorf("roles after the second sign-in: %v", u.Roles)
	}
}

// An ID token without the roles claim is completed from userinfo.
func TestFederatedClaimsFromUserinfo(t *testing.T) {
	h, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { delete(u.claims, "groups") })
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	u, err := h.db.Users().Get(t.Context(), "okta:00u1")
	if err != nil || !slices.Equal(u.Roles, []string{"sales-manager", "staff"}) {
		t.Errorf("user %+v %v", u, err)
	}
}

// TestFederatedUserinfoFailureSaid: when the claims a sign-in needs from
// the upstream's userinfo (here the roles) cannot be had, the sign-in
// goes on with the ID token's, mapping no roles, and the log says why:
// before, the person's mapped roles went with no word of the cause.
func TestFederatedUserinfoFailureSaid(t *testing.T) {
	var logs syncBuffer
	h, up := fedHarness(t, func(p *Provider) { p.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	up.set(func(u *fakeUpstream) { delete(u.claims, "groups"); u.meOut = true })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	u, err := h.db.Users().Get(t.Context(), "okta:00u1")
	if err != nil || !slices.Equal(u.Roles, []string{"staff"}) {
		t.Errorf("user %+v %v, want only the default role", u, err)
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "userinfo failed") || !strings.Contains(got, "connection=okta") {
		t.Errorf("the log says:\n%s", got)
	}
}

func TestFederatedRefusals(t *testing.T) {
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name   string
		set    func(u *fakeUpstream)
		reason string
	}{
		{"wrong audience", func(u *fakeUpstream) { u.tamper = func(c map[string]any) { c["aud"] = "someone-else" } }, "upstream_token"},
		{"wrong nonce", func(u *fakeUpstream) { u.tamper = func(c map[string]any) { c["nonce"] = "x" } }, "upstream_token"},
		{"expired", func(u *fakeUpstream) {
			u.tamper = func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }
		}, "upstream_token"},
		{"wrong issuer claim", func(u *fakeUpstream) { u.tamper = func(c map[string]any) { c["iss"] = "https://evil.example" } }, "upstream_token"},
		{"forged signature", func(u *fakeUpstream) { u.sigWith = other }, "upstream_token"},
		{"alg none", func(u *fakeUpstream) { u.header = map[string]any{"alg": "none", "kid": "k1"} }, "upstream_token"},
		{"alg HS256", func(u *fakeUpstream) { u.header = map[string]any{"alg": "HS256", "kid": "k1"} }, "upstream_token"},
		{"unknown kid", func(u *fakeUpstream) { u.header = map[string]any{"alg": "RS256", "kid": "k9"} }, "upstream_token"},
		{"iss parameter mismatch", func(u *fakeUpstream) { u.iss = "https://evil.example" }, "issuer_mismatch"},
		{"no sub", func(u *fakeUpstream) { u.tamper = func(c map[string]any) { delete(c, "sub") } }, "upstream_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, up := fedHarness(t)
			up.set(tc.set)
			resp := fedSignIn(t, h, h.browser(), authParams())
			body(t, resp)
			if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != tc.reason {
				t.Errorf("event %+v", ev)
			}
			if _, err := h.db.Users().Get(t.Context(), "okta:00u1"); err == nil {
				t.Error("a user was created")
			}
		})
	}
}

func TestFederatedStateAndTakeover(t *testing.T) {
	h, _ := fedHarness(t)
	// The callback in another browser (login CSRF) is refused.
	b := h.browser()
	resp, _ := b.Get(h.url("/login"))
	resp = pressOkta(t, h, b, body(t, resp))
	body(t, resp)
	resp, _ = b.Get(resp.Header.Get("Location"))
	body(t, resp)
	callback := resp.Header.Get("Location")
	resp, _ = h.browser().Get(callback)
	body(t, resp)
	if resp.StatusCode != 400 {
		t.Errorf("callback in another browser: %d", resp.StatusCode)
	}
	// In the right browser it works once; a replay is refused.
	resp, _ = b.Get(callback)
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	jar := b.Jar
	u, _ := url.Parse(h.srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "gh_fed", Value: mustQuery(t, callback).Get("state"), Path: "/"}})
	resp, _ = b.Get(callback)
	body(t, resp)
	if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != 400 || ev.Detail["reason"] != "state_reused" {
		t.Errorf("replay: %d %+v", resp.StatusCode, ev)
	}
	// A local user of the same name, not linked, is never taken over.
	h2, _ := fedHarness(t)
	_ = h2.db.Users().Create(t.Context(), store.User{Username: "okta:00u1", PasswordHash: hash(t, pw), Roles: []string{"admin"}})
	resp = fedSignIn(t, h2, h2.browser(), authParams())
	body(t, resp)
	if ev, _ := h2.audit.last(audit.LoginFailed); resp.StatusCode != 403 || ev.Detail["reason"] != "account" {
		t.Errorf("takeover: %d %+v", resp.StatusCode, ev)
	}
	// The record does not name the local person as the one who tried:
	// the upstream's account did, and the name it came for is detail.
	if ev, _ := h2.audit.last(audit.LoginFailed); ev.Actor != "" || ev.Detail["claimed_user"] != "okta:00u1" || ev.Detail["upstream_sub"] != "00u1" {
		t.Errorf("a takeover refused is recorded as %+v", ev)
	}
	// An unknown connection.
	resp, _ = h.browser().Get(h.url("/login/nope"))
	body(t, resp)
	if resp.StatusCode != 404 {
		t.Errorf("unknown connection: %d", resp.StatusCode)
	}
	// Bad connection configuration is a Check error.
	for _, c := range []*Connection{{Name: "a b", Issuer: "https://x", ClientID: "c"}, {Name: "a", Issuer: "x", ClientID: "c"},
		{Name: "a", Issuer: "https://x"}, {Name: "a", Issuer: "http://idp.example", ClientID: "c"}} {
		p := &Provider{Issuer: "https://id.example", Store: h.db, Keys: h.p.Keys, Connections: []*Connection{c}}
		if p.Check() == nil {
			t.Errorf("Check(%+v) = nil", c)
		}
	}
}

func mustQuery(t *testing.T, s string) url.Values {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// Federated users are named after the upstream subject, which an OpenID
// provider never reassigns, not after a username or an address that can
// change hands; an email address is taken only when it is verified.
func TestFederatedNamesAndEmail(t *testing.T) {
	h, up := fedHarness(t)
	// An unverified address is not taken, and Gatehouse's ID token does
	// not assert it.
	up.set(func(u *fakeUpstream) { u.claims["email_verified"] = false; u.claims["email"] = "ceo@acme.example" })
	b := h.browser()
	resp := fedSignIn(t, h, b, authParams())
	body(t, resp)
	resp, _ = b.Get(resp.Header.Get("Location"))
	r := h.redeem(redirectQuery(t, resp, webRedirect).Get("code"))
	if c := claims(t, r.ID); r.Status != 200 || c["sub"] != "okta:00u1" || c["email"] != nil {
		t.Fatalf("ID token of a person with an unverified address: %v", c)
	}
	if u, err := h.db.Users().Get(t.Context(), "okta:00u1"); err != nil || u.Email != "" {
		t.Errorf("user %+v %v", u, err)
	}
	if _, err := h.db.Users().Get(t.Context(), "okta:alice.up"); err == nil {
		t.Error("a user was named after preferred_username")
	}
	// Once verified, it is taken; when it stops being verified, dropped.
	up.set(func(u *fakeUpstream) { u.claims["email_verified"] = true })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if u, _ := h.db.Users().Get(t.Context(), "okta:00u1"); u.Email != "ceo@acme.example" {
		t.Errorf("verified address not taken: %q", u.Email)
	}
	up.set(func(u *fakeUpstream) { u.claims["email_verified"] = "false" })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if u, _ := h.db.Users().Get(t.Context(), "okta:00u1"); u.Email != "" {
		t.Errorf("address kept after it stopped being verified: %q", u.Email)
	}

	// Another upstream account that now carries the same preferred_username
	// and email gets its own user, not the first one's.
	up.set(func(u *fakeUpstream) { u.claims["sub"] = "00u2" })
	body(t, fedSignIn(t, h, h.browser(), authParams()))
	if u, err := h.db.Users().Get(t.Context(), "okta:00u2"); err != nil || u.Attributes[attrIdPSub] != "00u2" {
		t.Errorf("second account: %+v %v", u, err)
	}

	// A user created under the earlier rule (named after preferred_username)
	// and linked to the same account keeps its name, roles and history.
	h2, up2 := fedHarness(t)
	if err := h2.db.Users().Create(t.Context(), store.User{Username: "okta:alice.up", Roles: []string{"auditor"},
		Attributes: map[string]string{attrIdP: "okta", attrIdPSub: "00u1"}}); err != nil {
		t.Fatal(err)
	}
	body(t, fedSignIn(t, h2, h2.browser(), authParams()))
	if ev, _ := h2.audit.last(audit.LoginSucceeded); ev.Actor != "okta:alice.up" {
		t.Errorf("linked legacy user: signed in as %q", ev.Actor)
	}
	if _, err := h2.db.Users().Get(t.Context(), "okta:00u1"); err == nil {
		t.Error("a second user was made for a linked legacy user")
	}
	// One linked to another account is not used.
	up2.set(func(u *fakeUpstream) { u.claims["sub"] = "00u9" })
	body(t, fedSignIn(t, h2, h2.browser(), authParams()))
	if ev, _ := h2.audit.last(audit.LoginSucceeded); ev.Actor != "okta:00u9" {
		t.Errorf("another account with the same preferred_username signed in as %q", ev.Actor)
	}
}

// TestFederatedTokenRedirectNotFollowed: an upstream whose token endpoint
// redirects does not get Gatehouse to send the code, its verifier and the
// client's credentials elsewhere: the sign-in fails, nothing reaches the
// redirect's target.
func TestFederatedTokenRedirectNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var reached []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reached = append(reached, r.Method+" "+r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
	}))
	t.Cleanup(elsewhere.Close)
	h, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { u.tokenTo = elsewhere.URL + "/token" })
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
		t.Errorf("sign-in through a redirecting token endpoint: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reached) != 0 {
		t.Errorf("the redirect was followed: %q", reached)
	}
}

// A fresh sign-in demanded of Gatehouse (prompt=login, max_age) is
// demanded of the upstream as well, and the session's auth_time is the
// upstream's: a session still open there does not pass for a new sign-in.
func TestFederatedFreshSignIn(t *testing.T) {
	h, up := fedHarness(t)
	b := h.browser()
	body(t, fedSignIn(t, h, b, authParams())) // a session, through Okta
	// The app demands a fresh sign-in within 60 seconds.
	resp := h.authorize(b, authParams("prompt", "login", "max_age", "60"))
	body(t, resp)
	login := resp.Header.Get("Location")
	if !strings.Contains(login, "fresh=1") {
		t.Fatalf("to the login page without asking for a fresh sign-in: %s", login)
	}
	resp, err := b.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	resp = pressOkta(t, h, b, body(t, resp))
	body(t, resp)
	// A fresh sign-in is one made now: the upstream is asked for max_age=0,
	// not the app's 60, which also obliges it to say when the person
	// signed in (auth_time).
	toUpstream, _ := url.Parse(resp.Header.Get("Location"))
	if q := toUpstream.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" {
		t.Errorf("the upstream was asked %v, want prompt=login and max_age=0", q)
	}
	// The upstream answers from a session an hour old: Gatehouse's new
	// session dates from then, older than the request that asked for a
	// fresh one, so the app is told that none could be had (OpenID
	// Connect Core 3.1.2.1) instead of getting a code.
	hourAgo := time.Now().Add(-time.Hour).Unix()
	up.set(func(u *fakeUpstream) { u.claims["auth_time"] = hourAgo })
	if resp, err = b.Get(toUpstream.String()); err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp, err = b.Get(resp.Header.Get("Location")); err != nil { // Gatehouse's callback
		t.Fatal(err)
	}
	body(t, resp)
	back := resp.Header.Get("Location")
	if resp, err = b.Get(back); err != nil { // the authorization request again
		t.Fatal(err)
	}
	body(t, resp)
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "login_required" || q.Has("code") {
		t.Errorf("an upstream session an hour old passed for a fresh sign-in: %d %v", resp.StatusCode, q)
	}
	// Without max_age, the code's ID token says when the person signed in.
	r := h.redeem(h.code(b, authParams()))
	if at, _ := claims(t, r.ID)["auth_time"].(float64); int64(at) != hourAgo {
		t.Errorf("auth_time %v, want the upstream's %d", claims(t, r.ID)["auth_time"], hourAgo)
	}
}

// TestFederatedStartNeedsTheLoginPage: a link to /login/okta, which any
// site can send a browser to, shows the login page and goes nowhere else;
// the button's form without the page's CSRF token is refused. Before, the
// link went straight to the upstream, whose open session signed the person
// in at once: alice's session was ended and replaced by her upstream
// account without her doing anything. With the page's token the button
// works (fedSignIn, TestFederatedSignIn).
func TestFederatedStartNeedsTheLoginPage(t *testing.T) {
	h, _ := fedHarness(t)
	b := h.signedIn("alice")
	resp, err := b.Get(h.url("/login/okta?next=%2Fsigned-in&fresh=1"))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != h.url("/login?fresh=1&next=%2Fsigned-in") {
		t.Fatalf("a link to the connection: %d → %q, want the login page", resp.StatusCode, loc)
	}
	resp, _ = b.Get(resp.Header.Get("Location"))
	if html := body(t, resp); !strings.Contains(html, "Sign in with Okta") || formFields(t, html, h.url("/login/okta")).Get("fresh") != "1" {
		t.Errorf("the login page has no Okta button keeping the link's request:\n%s", html)
	}
	for name, csrf := range map[string]string{"no token": "", "another token": strings.Repeat("x", 43)} {
		form := url.Values{"next": {"/signed-in"}}
		if csrf != "" {
			form.Set("csrf", csrf)
		}
		resp, err = b.PostForm(h.url("/login/okta"), form)
		if err != nil {
			t.Fatal(err)
		}
		html := body(t, resp)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(html, "form expired") {
			t.Errorf("%s: %d → %q, want the login page saying the form expired", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, _ = b.Get(h.url("/signed-in"))
	if html := body(t, resp); !strings.Contains(html, "signed in to Gatehouse as <strong>alice</strong>") {
		t.Errorf("alice's session did not survive:\n%s", html)
	}
	resp, _ = b.PostForm(h.url("/login/nope"), url.Values{})
	if body(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown connection's button: %d", resp.StatusCode)
	}
}

// TestFederatedNamesRefuseHiddenCharacters: a name or email address that
// a person at the upstream picks is kept only when it holds nothing a
// terminal or a page would act on or hide: no control character (ESC
// sequences), no format character (a bidirectional override), nothing drawn
// as a blank, no invalid UTF-8.
func TestFederatedNamesRefuseHiddenCharacters(t *testing.T) {
	for _, name := range []string{"mallory\x1b[2J", "m\u202eyrollam", "a\u3164b", "a\u200bb", "a\u009bb", "a\xffb", "a b", ""} {
		if usableName(name) {
			t.Errorf("usableName(%q) = true", name)
		}
		if got := verifiedEmail(map[string]any{"email": name + "@x.example", "email_verified": true}); name != "" && got != "" {
			t.Errorf("verifiedEmail kept %q", got)
		}
	}
	for _, name := range []string{"alice", "zoë@corp.example", "渡辺"} {
		if !usableName(name) {
			t.Errorf("usableName(%q) = false", name)
		}
	}
}
