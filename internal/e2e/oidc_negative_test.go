package e2e_test

// The refusals of the authorization code flow, driven with plain net/http
// against a running Gatehouse: what a strict relying party never sends, an
// attacker does. Endpoints come from discovery, as a client finds them.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// oidcDiscovery is the part of the provider metadata these tests use.
type oidcDiscovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
}

func oidcDiscover(t *testing.T, gh *e2e.Gatehouse) oidcDiscovery {
	t.Helper()
	resp, err := http.Get(gh.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d oidcDiscovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	if d.Issuer != gh.URL {
		t.Fatalf("discovery issuer %q, want %q", d.Issuer, gh.URL)
	}
	return d
}

// oidcBrowser is a cookie-keeping HTTP client that does not follow redirects.
type oidcBrowser struct{ c *http.Client }

func newOIDCBrowser(t *testing.T) *oidcBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcBrowser{c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// oidcPage is an answer as the browser saw it.
type oidcPage struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (b *oidcBrowser) do(t *testing.T, method, target string, form url.Values) oidcPage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := oidcPage{status: resp.StatusCode, header: resp.Header, body: string(data)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			t.Fatalf("%s %s: bad Location %q", method, target, loc)
		}
		p.location = u.String()
	}
	return p
}

var (
	oidcFormAction = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)
	oidcFormInput  = regexp.MustCompile(`<input\b[^>]*>`)
	oidcInputName  = regexp.MustCompile(`\sname="([^"]*)"`)
	oidcInputValue = regexp.MustCompile(`\svalue="([^"]*)"`)
)

// form returns the action and the valued inputs of a page's form.
func (p oidcPage) form(t *testing.T, base string) (string, url.Values) {
	t.Helper()
	m := oidcFormAction.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page:\n%.400s", p.body)
	}
	action, err := url.Parse(base)
	if err == nil {
		action, err = action.Parse(html.UnescapeString(m[1]))
	}
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	for _, in := range oidcFormInput.FindAllString(p.body, -1) {
		n, val := oidcInputName.FindStringSubmatch(in), oidcInputValue.FindStringSubmatch(in)
		if n != nil && val != nil {
			v.Set(html.UnescapeString(n[1]), html.UnescapeString(val[1]))
		}
	}
	return action.String(), v
}

// signIn follows an authorization request through the login (and consent)
// forms and returns the redirect to redirectURI.
func (b *oidcBrowser) signIn(t *testing.T, start, redirectURI, username, password string) *url.URL {
	t.Helper()
	target, method, form := start, http.MethodGet, url.Values(nil)
	for range 10 {
		p := b.do(t, method, target, form)
		switch {
		case p.status >= 300 && p.status < 400:
			if strings.HasPrefix(p.location, redirectURI) {
				u, _ := url.Parse(p.location)
				return u
			}
			target, method, form = p.location, http.MethodGet, nil
			continue
		case p.status != http.StatusOK:
			t.Fatalf("%s %s: %d\n%.400s", method, target, p.status, p.body)
		}
		action, f := p.form(t, target)
		switch {
		case strings.Contains(p.body, `name="password"`):
			f.Set("username", username)
			f.Set("password", password)
		case strings.Contains(p.body, `name="decision"`):
			f.Set("decision", "allow")
		default:
			t.Fatalf("unexpected page at %s:\n%.400s", target, p.body)
		}
		target, method, form = action, http.MethodPost, f
	}
	t.Fatal("too many steps before the redirect to the client")
	return nil
}

// oidcPKCE returns a fresh verifier and its S256 challenge.
func oidcPKCE() (verifier, challenge string) {
	verifier = base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
	s := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(s[:])
}

// oidcAuthURL builds an authorization request of the web client; set changes
// or (with "") removes parameters.
func oidcAuthURL(d oidcDiscovery, set map[string]string) string {
	_, challenge := oidcPKCE()
	q := url.Values{"client_id": {oidcWebClient}, "redirect_uri": {oidcWebRedirect}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"st-" + rand.Text()}, "nonce": {"n-" + rand.Text()},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return d.AuthorizationEndpoint + "?" + q.Encode()
}

// oidcTokenAnswer is a token endpoint answer.
type oidcTokenAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a oidcTokenAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

// oidcToken posts form to the token endpoint, with HTTP Basic when user is set.
func oidcToken(t *testing.T, d oidcDiscovery, user, pass string, form url.Values) oidcTokenAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := oidcTokenAnswer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("token endpoint answered %d with no JSON: %v", resp.StatusCode, err)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token endpoint answer %d: Cache-Control %q, want no-store", resp.StatusCode, cc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("token endpoint answer %d: Content-Type %q", resp.StatusCode, ct)
	}
	return a
}

// refused checks an RFC 6749 §5.2 error answer.
func (a oidcTokenAnswer) refused(t *testing.T, what, code string, status int) {
	t.Helper()
	if a.status != status || a.str("error") != code {
		t.Errorf("%s: %d %v, want %d %s", what, a.status, a.body, status, code)
	}
	if a.str("access_token") != "" {
		t.Errorf("%s: an error answer carries an access token", what)
	}
}

// oidcRedirectedError checks that p sends the browser back to the client with
// an authorization error, the state and the issuer (RFC 9207).
func oidcRedirectedError(t *testing.T, what string, p oidcPage, request, code, issuer string) {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("%s: %d, want a redirect with error=%s\n%.300s", what, p.status, code, p.body)
	}
	loc, _ := url.Parse(p.location)
	req, _ := url.Parse(request)
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != oidcWebRedirect {
		t.Errorf("%s: redirected to %s, want %s", what, got, oidcWebRedirect)
	}
	q := loc.Query()
	if q.Get("error") != code || q.Has("code") {
		t.Errorf("%s: redirect query %v, want error=%s and no code", what, q, code)
	}
	if q.Get("state") != req.Query().Get("state") {
		t.Errorf("%s: state %q, want %q", what, q.Get("state"), req.Query().Get("state"))
	}
	if q.Get("iss") != issuer {
		t.Errorf("%s: iss %q, want %q", what, q.Get("iss"), issuer)
	}
}

// oidcUserinfoStatus is the status of a userinfo request with the token.
func oidcUserinfoStatus(t *testing.T, d oidcDiscovery, accessToken string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.UserinfoEndpoint, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOIDCRefusals(t *testing.T) {
	gh := e2e.Start(t, oidcTenant, nil)
	d := oidcDiscover(t, gh)

	t.Run("PKCE", func(t *testing.T) {
		verifier, _ := oidcPKCE()
		for _, c := range []struct {
			name string
			set  map[string]string
		}{
			// plain is refused whether it is named or implied by a
			// challenge with no method (RFC 7636 §4.3).
			{"plain", map[string]string{"code_challenge": verifier, "code_challenge_method": "plain"}},
			{"no method", map[string]string{"code_challenge": verifier, "code_challenge_method": ""}},
			{"no challenge", map[string]string{"code_challenge": "", "code_challenge_method": ""}},
			{"method without challenge", map[string]string{"code_challenge": ""}},
		} {
			// Signed in or not, the request is refused before a code exists.
			b := newOIDCBrowser(t)
			u := oidcAuthURL(d, c.set)
			oidcRedirectedError(t, c.name, b.do(t, http.MethodGet, u, nil), u, "invalid_request", d.Issuer)
			b.signIn(t, oidcAuthURL(d, nil), oidcWebRedirect, oidcUser, oidcPassword)
			u = oidcAuthURL(d, c.set)
			oidcRedirectedError(t, c.name+" (signed in)", b.do(t, http.MethodGet, u, nil), u, "invalid_request", d.Issuer)
		}
	})

	t.Run("redirect_uri", func(t *testing.T) {
		// An unregistered redirect gets an error page, never a redirect:
		// else the authorization server is an open redirector.
		for _, set := range []map[string]string{
			{"redirect_uri": "https://evil.example/callback"},
			{"redirect_uri": "http://127.0.0.1:9000/other"},
			{"redirect_uri": "http://127.0.0.1:9000/callback/"},
			{"redirect_uri": "http://127.0.0.1:9000/callback?next=https://evil.example"},
			{"redirect_uri": "http://localhost:9000/callback"},
			{"redirect_uri": "http://127.0.0.1:9000/callback#x"},
			{"redirect_uri": "https://127.0.0.1:9000/callback"},
			{"client_id": "no-such-client"},
		} {
			b := newOIDCBrowser(t)
			b.signIn(t, oidcAuthURL(d, nil), oidcWebRedirect, oidcUser, oidcPassword)
			p := b.do(t, http.MethodGet, oidcAuthURL(d, set), nil)
			if p.status != http.StatusBadRequest || p.location != "" ||
				!strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%v: %d Location %q Content-Type %q, want a 400 error page and no redirect",
					set, p.status, p.location, p.header.Get("Content-Type"))
			}
		}
	})

	// code signs alice in to the web client and returns a fresh code and
	// its verifier.
	code := func(t *testing.T) (string, string) {
		t.Helper()
		verifier, challenge := oidcPKCE()
		u := oidcAuthURL(d, map[string]string{"code_challenge": challenge})
		cb := newOIDCBrowser(t).signIn(t, u, oidcWebRedirect, oidcUser, oidcPassword)
		if cb.Query().Get("code") == "" {
			t.Fatalf("no code: %s", cb)
		}
		return cb.Query().Get("code"), verifier
	}
	exchange := func(code, verifier string, more ...string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidcWebRedirect}}
		if verifier != "" {
			f.Set("code_verifier", verifier)
		}
		for i := 0; i+1 < len(more); i += 2 {
			f.Set(more[i], more[i+1])
		}
		return f
	}

	t.Run("code_verifier", func(t *testing.T) {
		c, verifier := code(t)
		oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, "")).refused(t, "no code_verifier", "invalid_grant", 400)
		other, _ := oidcPKCE()
		oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, other)).refused(t, "wrong code_verifier", "invalid_grant", 400)
		oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, verifier, "redirect_uri", "http://127.0.0.1:9000/other")).
			refused(t, "other redirect_uri", "invalid_grant", 400)
		// Those presentations did not burn the code: its owner still can.
		if a := oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, verifier)); a.status != 200 || a.str("access_token") == "" {
			t.Errorf("the right verifier after refused attempts: %d %v", a.status, a.body)
		}
	})

	t.Run("code reuse", func(t *testing.T) {
		c, verifier := code(t)
		first := oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, verifier))
		if first.status != 200 || first.str("access_token") == "" || first.str("refresh_token") == "" {
			t.Fatalf("first use: %d %v", first.status, first.body)
		}
		if s := oidcUserinfoStatus(t, d, first.str("access_token")); s != 200 {
			t.Fatalf("userinfo before the replay: %d", s)
		}
		oidcToken(t, d, oidcWebClient, oidcWebSecret, exchange(c, verifier)).refused(t, "second use", "invalid_grant", 400)
		// The replay revokes what the first use issued.
		if s := oidcUserinfoStatus(t, d, first.str("access_token")); s != 401 {
			t.Errorf("userinfo with the first use's access token after the replay: %d, want 401", s)
		}
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}
		oidcToken(t, d, oidcWebClient, oidcWebSecret, f).refused(t, "the first use's refresh token after the replay", "invalid_grant", 400)
	})

	t.Run("code redeemed in parallel", func(t *testing.T) {
		// Single use is decided by the store, not by luck of timing.
		c, verifier := code(t)
		const n = 8
		status := make(chan int, n)
		var wg sync.WaitGroup
		body := exchange(c, verifier).Encode()
		for range n {
			wg.Go(func() {
				// No t.Fatal off the test goroutine: a failed request is status 0.
				req, _ := http.NewRequest(http.MethodPost, d.TokenEndpoint, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(oidcWebClient, oidcWebSecret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					status <- 0
					return
				}
				resp.Body.Close()
				status <- resp.StatusCode
			})
		}
		wg.Wait()
		close(status)
		got := map[int]int{}
		for s := range status {
			got[s]++
		}
		if got[200] != 1 || got[400] != n-1 {
			t.Errorf("%d parallel redemptions of one code: statuses %v, want one 200 and %d 400", n, got, n-1)
		}
	})

	t.Run("code of another client", func(t *testing.T) {
		c, verifier := code(t)
		f := exchange(c, verifier)
		oidcToken(t, d, oidcAgentClient, oidcAgentSecret, f).refused(t, "code redeemed by another client", "invalid_grant", 400)
	})

	t.Run("prompt=none", func(t *testing.T) {
		u := oidcAuthURL(d, map[string]string{"prompt": "none"})
		oidcRedirectedError(t, "prompt=none signed out", newOIDCBrowser(t).do(t, http.MethodGet, u, nil), u, "login_required", d.Issuer)
		// Signed in, but the native client has no consent yet.
		b := newOIDCBrowser(t)
		b.signIn(t, oidcAuthURL(d, nil), oidcWebRedirect, oidcUser, oidcPassword)
		q := url.Values{"client_id": {oidcCLIClient}, "redirect_uri": {oidcCLIRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s1"}, "prompt": {"none"}, "code_challenge": {strings.Repeat("A", 43)},
			"code_challenge_method": {"S256"}}
		p := b.do(t, http.MethodGet, d.AuthorizationEndpoint+"?"+q.Encode(), nil)
		loc, _ := url.Parse(p.location)
		if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "consent_required" {
			t.Errorf("prompt=none without consent: %d %q, want a redirect with consent_required", p.status, p.location)
		}
	})

	t.Run("consent denied", func(t *testing.T) {
		b := newOIDCBrowser(t)
		q := url.Values{"client_id": {oidcCLIClient}, "redirect_uri": {oidcCLIRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s2"}, "code_challenge": {strings.Repeat("B", 43)},
			"code_challenge_method": {"S256"}}
		p := b.do(t, http.MethodGet, d.AuthorizationEndpoint+"?"+q.Encode(), nil)
		login := p.location
		p = b.do(t, http.MethodGet, login, nil) // the login form
		action, f := p.form(t, login)
		f.Set("username", oidcUser)
		f.Set("password", oidcPassword)
		p = b.do(t, http.MethodPost, action, f)
		next := p.location
		p = b.do(t, http.MethodGet, next, nil) // the consent form
		if !strings.Contains(p.body, `name="decision"`) {
			t.Fatalf("no consent page for a client that is not first-party: %d\n%.300s", p.status, p.body)
		}
		action, f = p.form(t, next)
		f.Set("decision", "deny")
		p = b.do(t, http.MethodPost, action, f)
		loc, _ := url.Parse(p.location)
		if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "access_denied" ||
			loc.Query().Get("state") != "s2" || loc.Query().Has("code") {
			t.Errorf("consent denied: %d %q, want a redirect with access_denied and the state", p.status, p.location)
		}
	})

	t.Run("no scope", func(t *testing.T) {
		// OAuth without OpenID Connect: no scope at all is a valid request,
		// answered with an access token and no ID token.
		verifier, challenge := oidcPKCE()
		u := oidcAuthURL(d, map[string]string{"scope": "", "nonce": "", "code_challenge": challenge})
		cb := newOIDCBrowser(t).signIn(t, u, oidcWebRedirect, oidcUser, oidcPassword)
		a := oidcToken(t, d, oidcWebClient, oidcWebSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {cb.Query().Get("code")}, "redirect_uri": {oidcWebRedirect}, "code_verifier": {verifier}})
		if a.status != 200 || a.str("access_token") == "" || a.str("id_token") != "" {
			t.Errorf("no scope: %d %v, want an access token and no ID token", a.status, a.body)
		}
	})

	t.Run("login form", func(t *testing.T) {
		b := newOIDCBrowser(t)
		p := b.do(t, http.MethodGet, oidcAuthURL(d, nil), nil)
		login := p.location
		p = b.do(t, http.MethodGet, login, nil)
		action, f := p.form(t, login)
		f.Set("username", oidcUser)
		f.Set("password", oidcPassword)
		// Without its CSRF token the form is shown again; no session.
		noCSRF := url.Values{"username": {oidcUser}, "password": {oidcPassword}, "authz": {f.Get("authz")}}
		if p := b.do(t, http.MethodPost, action, noCSRF); p.status < 400 || p.location != "" {
			t.Errorf("login without the CSRF token: %d %q", p.status, p.location)
		}
		// A wrong password and an unknown user get the same answer.
		bad := func(user string) string {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			g.Set("username", user)
			g.Set("password", "wrong password")
			p := b.do(t, http.MethodPost, action, g)
			if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, `name="password"`) {
				t.Errorf("wrong password for %s: %d %q, want the form again", user, p.status, p.location)
			}
			m := regexp.MustCompile(`role="alert">([^<]*)<`).FindStringSubmatch(p.body)
			if m == nil {
				t.Errorf("wrong password for %s: no error message", user)
				return ""
			}
			return m[1]
		}
		if known, unknown := bad(oidcUser), bad("nobody"); known != unknown || known == "" {
			t.Errorf("wrong password: %q, unknown user: %q: want one message", known, unknown)
		}
		if p := b.do(t, http.MethodPost, action, f); p.status != http.StatusSeeOther {
			t.Errorf("login: %d, want 303", p.status)
		}
	})

	t.Run("client authentication", func(t *testing.T) {
		cc := url.Values{"grant_type": {"client_credentials"}}
		if a := oidcToken(t, d, oidcServiceClient, oidcServiceSecret, cc); a.status != 200 || a.str("access_token") == "" ||
			a.str("refresh_token") != "" || a.str("id_token") != "" {
			t.Errorf("client_credentials: %d %v", a.status, a.body)
		}
		a := oidcToken(t, d, oidcServiceClient, "wrong-secret-0123456789", cc)
		a.refused(t, "wrong secret (Basic)", "invalid_client", 401)
		if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("wrong secret (Basic): WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
		}
		post := url.Values{"grant_type": {"client_credentials"}, "client_id": {oidcServiceClient},
			"client_secret": {"wrong-secret-0123456789"}}
		oidcToken(t, d, "", "", post).refused(t, "wrong secret (post)", "invalid_client", 401)
		oidcToken(t, d, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {oidcServiceClient}}).
			refused(t, "confidential client without its secret", "invalid_client", 401)
		oidcToken(t, d, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {oidcCLIClient}}).
			refused(t, "client_credentials for a public client", "unauthorized_client", 400)
	})
}
