package cli_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// endTenant has carol, and a web app that is not first-party, so that
// signing in to it records a consent.
const endTenant = `
tenant: acme
users:
  - username: alice
    password: "alice's password, long enough"
  - username: carol
    password: "carol's first password"%s
clients:
  - client_id: acme-web
    name: Acme Web
    kind: web
    secret: "web-secret-0123456789abcdef0123456"
    redirect_uris: ["http://127.0.0.1:9000/callback"]
`

const (
	endWebSecret = "web-secret-0123456789abcdef0123456"
	endRedirect  = "http://127.0.0.1:9000/callback"
	endVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

// endBrowser is a cookie-keeping client that does not follow redirects.
type endBrowser struct {
	t *testing.T
	c *http.Client
	// client is the app signed in to: acme-web unless set.
	client string
}

func newEndBrowser(t *testing.T) *endBrowser {
	jar, _ := cookiejar.New(nil)
	return &endBrowser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, client: "acme-web"}
}

// do sends a GET (form nil) or a form POST, and returns the status, the
// absolute Location and the body.
func (b *endBrowser) do(target string, form url.Values) (int, string, string) {
	b.t.Helper()
	var resp *http.Response
	var err error
	if form == nil {
		resp, err = b.c.Get(target)
	} else {
		resp, err = b.c.PostForm(target, form)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc := ""
	if l := resp.Header.Get("Location"); l != "" {
		u, _ := resp.Request.URL.Parse(l)
		loc = u.String()
	}
	return resp.StatusCode, loc, string(body)
}

var (
	endInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	endCode  = regexp.MustCompile(`[?&]code=([^&]+)`)
)

// authorize runs the web app's authorization request as far as it goes
// without the person: it returns the page or redirect it stops at.
func (b *endBrowser) authorize(g *e2e.Gatehouse) (int, string, string) {
	s := sha256.Sum256([]byte(endVerifier))
	q := url.Values{"client_id": {b.client}, "redirect_uri": {endRedirect}, "response_type": {"code"},
		"scope": {"openid offline_access"}, "state": {"st"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(s[:])}, "code_challenge_method": {"S256"}}
	status, loc, body := b.do(g.URL+"/authorize?"+q.Encode(), nil)
	for status == http.StatusSeeOther && !strings.HasPrefix(loc, endRedirect) {
		status, loc, body = b.do(loc, nil)
	}
	return status, loc, body
}

// post submits the page's form with its hidden fields and the extra ones,
// following redirects on this server.
func (b *endBrowser) post(g *e2e.Gatehouse, page, action string, extra url.Values) (int, string, string) {
	b.t.Helper()
	f := url.Values{}
	for _, m := range endInput.FindAllStringSubmatch(page, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range extra {
		f[k] = v
	}
	status, loc, body := b.do(g.URL+action, f)
	for status == http.StatusSeeOther && !strings.HasPrefix(loc, endRedirect) {
		status, loc, body = b.do(loc, nil)
	}
	return status, loc, body
}

// signIn signs carol in to the web app with password, allowing it when
// asked, and returns the code and whether she was asked.
func (b *endBrowser) signIn(g *e2e.Gatehouse, password string) (code string, asked bool) {
	b.t.Helper()
	status, loc, page := b.authorize(g)
	if strings.Contains(page, `name="password"`) {
		status, loc, page = b.post(g, page, "/login", url.Values{"username": {"carol"}, "password": {password}})
	}
	if strings.Contains(page, `name="decision"`) {
		asked = true
		status, loc, _ = b.post(g, page, "/consent", url.Values{"decision": {"allow"}})
	}
	m := endCode.FindStringSubmatch(loc)
	if status != http.StatusSeeOther || m == nil {
		b.t.Fatalf("sign-in ended at %d %q:\n%.300s", status, loc, page)
	}
	return m[1], asked
}

// endToken posts to the token endpoint as the web app.
func endToken(t *testing.T, g *e2e.Gatehouse, f url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/token", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("acme-web", endWebSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// carolSignedIn signs carol in on a new browser and returns it with her
// refresh token.
func carolSignedIn(t *testing.T, g *e2e.Gatehouse) (*endBrowser, string) {
	t.Helper()
	b := newEndBrowser(t)
	code, asked := b.signIn(g, "carol's first password")
	if !asked {
		t.Fatal("carol was not asked to consent the first time")
	}
	status, tok := endToken(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {endVerifier}, "redirect_uri": {endRedirect}})
	rt, _ := tok["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("redeem: %d %v", status, tok["error"])
	}
	return b, rt
}

// checkCarolEnded checks that nothing the old carol held works any more:
// her refresh token, her browser session (which must sign in again, not
// get a code), and her consent (the new carol is asked again).
func checkCarolEnded(t *testing.T, g *e2e.Gatehouse, old *endBrowser, refresh, password string) {
	t.Helper()
	if status, tok := endToken(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != http.StatusBadRequest || tok["error"] != "invalid_grant" {
		t.Errorf("the old refresh token: %d %v, want invalid_grant", status, tok["error"])
	}
	if status, loc, page := old.authorize(g); strings.HasPrefix(loc, endRedirect) || !strings.Contains(page, `name="password"`) {
		t.Errorf("the old browser session went on without signing in: %d %q", status, loc)
	}
	if _, asked := newEndBrowser(t).signIn(g, password); !asked {
		t.Error("carol was not asked to consent again: the old consent lived on")
	}
}

// endedDetail returns the "ended" detail of the last admin.change record
// of user name with op.
func endedDetail(t *testing.T, data, op, name string) map[string]any {
	t.Helper()
	out := must(t, run(t, nil, "", "audit", "export", "--type", "admin.change", "--data", data)).stdout
	var found map[string]any
	for l := range strings.Lines(out) {
		var r struct {
			Event struct{ Detail map[string]any }
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		d := r.Event.Detail
		if d["kind"] == "user" && d["name"] == name && d["op"] == op {
			found, _ = d["ended"].(map[string]any)
			if found == nil {
				t.Fatalf("the %s user %s record says nothing of what was ended: %v", op, name, d)
			}
		}
	}
	if found == nil {
		t.Fatalf("no %s user %s record", op, name)
	}
	return found
}

func wantEnded(t *testing.T, got map[string]any) {
	t.Helper()
	for _, k := range []string{"sessions", "grants", "consents"} {
		if got[k] != float64(1) {
			t.Errorf("ended %v: want 1 of each", got)
			return
		}
	}
}

// TestUserRemoveEndsWhatTheUserHeld: removing a user ends their sessions,
// grants and consents, so that a new user of the same name inherits none
// of them; the change record counts what was ended.
func TestUserRemoveEndsWhatTheUserHeld(t *testing.T) {
	g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
	old, refresh := carolSignedIn(t, g)

	d := []string{"--data", g.Data}
	r := must(t, run(t, nil, "", append([]string{"user", "remove", "carol"}, d...)...))
	if !strings.Contains(r.stdout, "ended 1 session, 1 grant, 1 consent") {
		t.Errorf("user remove said: %s", r.stdout)
	}
	wantEnded(t, endedDetail(t, g.Data, "-", "carol"))
	must(t, run(t, nil, "carol's new password\n", append([]string{"user", "add", "carol", "--password-stdin"}, d...)...))
	checkCarolEnded(t, g, old, refresh, "carol's new password")
}

// TestApplyPruneAndDisableEndWhatTheUserHeld: a tenant file that drops a
// user (apply --prune) or disables one ends what they held, as 'user
// remove' does; enabling them again brings none of it back.
func TestApplyPruneAndDisableEndWhatTheUserHeld(t *testing.T) {
	write := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "tenant.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("disable", func(t *testing.T) {
		g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
		d := []string{"--data", g.Data}
		old, refresh := carolSignedIn(t, g)
		r := must(t, run(t, nil, "", append([]string{"apply", "-f", write(strings.Replace(endTenant, "%s", "\n    disabled: true", 1))}, d...)...))
		if !strings.Contains(r.stdout, "~ user carol (disabled; ends 1 session, 1 grant, 1 consent)") {
			t.Errorf("apply said: %s", r.stdout)
		}
		wantEnded(t, endedDetail(t, g.Data, "~", "carol"))
		must(t, run(t, nil, "", append([]string{"apply", "-f", write(strings.Replace(endTenant, "%s", "", 1))}, d...)...))
		checkCarolEnded(t, g, old, refresh, "carol's first password")
	})
	t.Run("prune", func(t *testing.T) {
		g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
		d := []string{"--data", g.Data}
		old, refresh := carolSignedIn(t, g)
		withoutCarol := strings.Replace(strings.Replace(endTenant, "%s", "", 1),
			"  - username: carol\n    password: \"carol's first password\"\n", "", 1)
		r := must(t, run(t, nil, "", append([]string{"apply", "--prune", "-f", write(withoutCarol)}, d...)...))
		if !strings.Contains(r.stdout, "- user carol (ends 1 session, 1 grant, 1 consent)") {
			t.Errorf("apply --prune said: %s", r.stdout)
		}
		wantEnded(t, endedDetail(t, g.Data, "-", "carol"))
		must(t, run(t, nil, "", append([]string{"apply", "-f", write(strings.Replace(endTenant, "%s", "", 1))}, d...)...))
		checkCarolEnded(t, g, old, refresh, "carol's first password")
	})
}

// TestNewPasswordEndsWhatTheOldOneWon: a new password, set with 'user
// passwd' or in a tenant file, ends the person's sessions, grants and
// consents, as an operator resetting a leaked password expects: whoever
// signed in with the old one keeps neither the browser session nor the
// refresh token. Before, only the hash changed.
func TestNewPasswordEndsWhatTheOldOneWon(t *testing.T) {
	t.Run("user passwd", func(t *testing.T) {
		g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
		old, refresh := carolSignedIn(t, g)
		r := must(t, run(t, nil, "carol's brand new password\n", "user", "passwd", "carol", "--data", g.Data))
		if !strings.Contains(r.stdout, "~ user carol (password; ended 1 session, 1 grant, 1 consent)") {
			t.Errorf("user passwd said: %s", r.stdout)
		}
		wantEnded(t, endedDetail(t, g.Data, "~", "carol"))
		checkCarolEnded(t, g, old, refresh, "carol's brand new password")
	})
	t.Run("apply", func(t *testing.T) {
		g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
		old, refresh := carolSignedIn(t, g)
		p := filepath.Join(t.TempDir(), "tenant.yaml")
		yaml := strings.Replace(strings.Replace(endTenant, "%s", "", 1), "carol's first password", "carol's second password", 1)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		r := must(t, run(t, nil, "", "apply", "-f", p, "--data", g.Data))
		if !strings.Contains(r.stdout, "~ user carol (password; ends 1 session, 1 grant, 1 consent)") {
			t.Errorf("apply said: %s", r.stdout)
		}
		checkCarolEnded(t, g, old, refresh, "carol's second password")
	})
}

// TestNewPasswordEndsAccessWithoutRefreshTokens: an app registered without
// the refresh_token grant holds carol's grant only in its access tokens
// (no refresh token names it): a new password ends those too, at once,
// not when they expire.
func TestNewPasswordEndsAccessWithoutRefreshTokens(t *testing.T) {
	g := e2e.Start(t, strings.Replace(endTenant, "%s", "", 1), nil)
	reg := `{"client_name": "No Refresh", "redirect_uris": ["` + endRedirect + `"],
		"grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"}`
	clientID := e2e.Register(t, g, reg)

	b := newEndBrowser(t)
	b.client = clientID
	code, _ := b.signIn(g, "carol's first password")
	resp, err := http.PostForm(g.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {endVerifier}, "redirect_uri": {endRedirect}, "client_id": {clientID}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	at, _ := tok["access_token"].(string)
	if resp.StatusCode != http.StatusOK || at == "" || tok["refresh_token"] != nil {
		t.Fatalf("redeem: %d %v (refresh token: %v)", resp.StatusCode, tok["error"], tok["refresh_token"] != nil)
	}
	userinfo := func() int {
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := userinfo(); s != http.StatusOK {
		t.Fatalf("userinfo with the new token: %d", s)
	}
	r := must(t, run(t, nil, "carol's brand new password\n", "user", "passwd", "carol", "--data", g.Data))
	if !strings.Contains(r.stdout, "1 grant") {
		t.Errorf("user passwd said: %s", r.stdout)
	}
	if s := userinfo(); s != http.StatusUnauthorized {
		t.Errorf("userinfo with the token won by the old password: %d, want 401", s)
	}
}
