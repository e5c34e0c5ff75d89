package identity

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

func TestLoginForm(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.url("/login"))
	if err != nil {
		t.Fatal(err)
	}
	html := body(t, resp)
	for _, want := range []string{`name="username"`, `name="password"`, `type="password"`, `name="csrf"`, `method="post"`} {
		if !strings.Contains(html, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if strings.Contains(html, "<script") {
		t.Error("the form uses a script")
	}
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gh_login_csrf" {
			csrf = c
		}
	}
	if csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode {
		t.Errorf("CSRF cookie %+v", csrf)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("the form can be framed")
	}
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	resp := h.login(b, "alice", pw, url.Values{"next": {"/admin"}})
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gh_session" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.Path != "/" || sc.MaxAge <= 0 {
		t.Fatalf("session cookie %+v", sc)
	}
	// The store keeps only the digest of the cookie.
	if _, err := h.db.Identity().SessionBySecret(t.Context(), sc.Value); err == nil {
		t.Error("the session is stored under its clear value")
	}
	// SessionUser sees alice; a request without the cookie sees nobody.
	req := httptest.NewRequest("GET", "/admin", nil)
	req.AddCookie(sc)
	if u, ok := h.p.SessionUser(req); !ok || u.Username != "alice" {
		t.Errorf("SessionUser = %v, %v", u.Username, ok)
	}
	if _, ok := h.p.SessionUser(httptest.NewRequest("GET", "/admin", nil)); ok {
		t.Error("SessionUser without a cookie")
	}
	if tok, ok := h.p.SessionCSRF(req); !ok || !h.p.CheckSessionCSRF(req, tok) || h.p.CheckSessionCSRF(req, tok+"x") {
		t.Error("session CSRF")
	}
	ev, ok := h.audit.last(audit.LoginSucceeded)
	if !ok || ev.Actor != "alice" || ev.Session == "" || ev.RemoteAddr != "127.0.0.1" {
		t.Errorf("event %+v", ev)
	}
	// Open redirects are refused: next falls back to the signed-in page.
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		resp := h.login(h.browser(), "alice", pw, url.Values{"next": {next}})
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "/signed-in" {
			t.Errorf("next=%q: Location %q", next, loc)
		}
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	h := newHarness(t)
	var pages []string
	for _, tc := range []struct{ user, pass, reason string }{
		{"alice", "wrong", "bad_password"},
		{"nobody", pw, "unknown_user"},
		{"carol", pw, "disabled"},
		{"", pw, "malformed"},
	} {
		resp := h.login(h.browser(), tc.user, tc.pass, nil)
		html := body(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), "gh_session=ghs_") {
			t.Errorf("%s: %d", tc.reason, resp.StatusCode)
		}
		if !strings.Contains(html, badLogin) {
			t.Errorf("%s: message missing", tc.reason)
		}
		// Only the CSRF token differs between the pages.
		pages = append(pages, csrfRE.ReplaceAllString(strings.ReplaceAll(html, `value="`+tc.user+`"`, ""), ""))
		ev, ok := h.audit.last(audit.LoginFailed)
		if !ok || ev.Detail["reason"] != tc.reason {
			t.Errorf("%s: event %+v", tc.reason, ev)
		}
	}
	for i := 1; i < len(pages); i++ {
		if pages[i] != pages[0] {
			t.Errorf("failure page %d differs from the first:\n%s\n---\n%s", i, pages[i], pages[0])
		}
	}
}

func TestLoginCSRF(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	resp, _ := b.Get(h.url("/login"))
	csrf := csrfOf(t, body(t, resp))
	for name, f := range map[string]url.Values{
		"no token":    {"username": {"alice"}, "password": {pw}},
		"wrong token": {"username": {"alice"}, "password": {pw}, "csrf": {csrf + "x"}},
	} {
		resp, err := b.PostForm(h.url("/login"), f)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// Another browser's token (no cookie) fails too.
	resp, _ = h.browser().PostForm(h.url("/login"), url.Values{"username": {"alice"}, "password": {pw}, "csrf": {csrf}})
	body(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-browser token: %d", resp.StatusCode)
	}
}

func TestLoginThrottle(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 6 })
	for range 3 {
		body(t, h.login(h.browser(), "alice", "wrong", nil))
	}
	// The right password is now refused, as throttled.
	resp := h.login(h.browser(), "alice", pw, nil)
	if html := body(t, resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(html, throttledLogin) {
		t.Fatalf("throttled: %d", resp.StatusCode)
	}
	if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "throttled" {
		t.Errorf("event %+v", ev)
	}
	// After the window, alice can sign in again.
	h.clock.Advance(16 * 60e9)
	if resp := h.login(h.browser(), "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
	// Per address: failures across users add up.
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		body(t, h.login(h.browser(), u, "wrong", nil))
	}
	if resp := h.login(h.browser(), "bob", pw, nil); resp.StatusCode != http.StatusTooManyRequests {
		body(t, resp)
		t.Errorf("address throttled: %d", resp.StatusCode)
	}
}

func TestSecureCookiesOnHTTPS(t *testing.T) {
	h := newHarness(t)
	p := &Provider{Issuer: "https://id.example", Store: h.db, Keys: h.p.Keys, Now: h.clock.Now}
	mux := http.NewServeMux()
	p.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != "__Host-gh_login_csrf" || !c[0].Secure || !c[0].HttpOnly || c[0].Path != "/" {
		t.Errorf("cookies %+v", c)
	}
}

func TestClientIP(t *testing.T) {
	p := &Provider{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:1234", nil, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"}, // untrusted peer: XFF ignored
		{"10.1.2.3:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.1.2.3:1234", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"10.1.2.3:1234", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
		{"10.1.2.3:1234", []string{"garbage, 10.9.9.9"}, "10.9.9.9"},
		{"10.1.2.3:1234", nil, "10.1.2.3"},
		{"[::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, x := range tc.xff {
			r.Header.Add("X-Forwarded-For", x)
		}
		if got := p.clientIP(r).String(); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// An IPv6 client is counted by its /64: walking through the addresses of
// one subnet does not reset the address throttle.
func TestThrottleKeysIPv6ByPrefix(t *testing.T) {
	h := newHarness(t, func(p *Provider) {
		p.MaxFailuresPerIP = 2
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	attempt := func(from, user, pass string) *http.Response {
		b := h.browser()
		resp, _ := b.Get(h.url("/login"))
		csrf := csrfOf(t, body(t, resp))
		req, _ := http.NewRequest("POST", h.url("/login"), strings.NewReader(url.Values{"username": {user},
			"password": {pass}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		return resp
	}
	attempt("2001:db8:1:2::1", "x1", "wrong")
	attempt("2001:db8:1:2::2", "x2", "wrong")
	// A third address of the same /64, with the right password: refused.
	if resp := attempt("2001:db8:1:2:ffff::3", "alice", pw); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("same /64: %d, want 429", resp.StatusCode)
	}
	if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "throttled" || ev.RemoteAddr != "2001:db8:1:2:ffff::3" {
		t.Errorf("event %+v", ev)
	}
	// Another /64 is another subscriber.
	if resp := attempt("2001:db8:1:3::1", "alice", pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another /64: %d", resp.StatusCode)
	}
	// IPv4 addresses are still counted one by one.
	attempt("198.51.100.1", "x1", "wrong")
	attempt("198.51.100.1", "x2", "wrong")
	if resp := attempt("198.51.100.2", "bob", pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another IPv4 address: %d", resp.StatusCode)
	}
}

// X-Forwarded-For from an untrusted peer does not dodge the address throttle.
func TestThrottleIgnoresUntrustedXFF(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerIP = 2 })
	for i, u := range []string{"x1", "x2", "x3"} {
		b := h.browser()
		resp, _ := b.Get(h.url("/login"))
		csrf := csrfOf(t, body(t, resp))
		req, _ := http.NewRequest("POST", h.url("/login"), strings.NewReader(url.Values{"username": {u},
			"password": {"x"}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "198.51.100."+string(rune('1'+i)))
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
	}
	if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "throttled" || ev.RemoteAddr != "127.0.0.1" {
		t.Errorf("event %+v", ev)
	}
}
