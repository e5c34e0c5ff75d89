package e2e_test

// The sign-in and consent pages in a real browser: Debian's Chromium,
// driven by Playwright (interop/pages/signin.mjs), clicks through them as a
// person does, for an app that registered itself (RFC 7591) under a name
// written as HTML. What the pages showed, and where the browser landed, is
// checked here; the code it brought back is redeemed with the app's PKCE
// verifier.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// pagesResult is what interop/pages/signin.mjs reports.
type pagesResult struct {
	LoginTitle         string   `json:"login_title"`
	AfterWrong         string   `json:"after_wrong"`
	AfterWrongUsername string   `json:"after_wrong_username"`
	Consent            string   `json:"consent"`
	ConsentImages      int      `json:"consent_images"`
	Landed             string   `json:"landed"`
	Dialogs            []string `json:"dialogs"`
}

func TestSignInPagesInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	e2e.Require(t, err == nil, "chromium (Debian's package)", "apt-get install chromium")
	e2e.Node22(t)
	gh := e2e.Start(t, oidcTenant, nil)
	d := oidcDiscover(t, gh)

	// The app's own loopback callback, as a native app has.
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<!doctype html><title>signed in</title><p>You may close this window."))
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"

	// The app registers itself, under a name that is HTML.
	const name = `<img src=x onerror="alert('owned')">Evil Helper`
	reg, _ := json.Marshal(map[string]any{"client_name": name, "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"}})
	clientID := e2e.Register(t, gh, string(reg))

	verifier, challenge := oidcPKCE()
	state := "st-chromium"
	auth := d.AuthorizationEndpoint + "?" + url.Values{"client_id": {clientID}, "redirect_uri": {redirect},
		"response_type": {"code"}, "scope": {"openid profile"}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	out, err := e2e.RunNode(t, 90*time.Second, []string{"AUTH_URL=" + auth, "REDIRECT_PREFIX=" + redirect,
		"USERNAME=" + oidcUser, "PASSWORD=" + oidcPassword, "WRONG_PASSWORD=not the password",
		"DECISION=allow", "CHROMIUM=" + browser}, "pages/signin.mjs")
	if err != nil {
		t.Fatalf("pages/signin.mjs: %v", err)
	}
	var got pagesResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("pages/signin.mjs said %q: %v", out, err)
	}

	// A wrong password: the sign-in page again, saying so, the username kept.
	if !strings.Contains(got.LoginTitle, "Sign in") || !strings.Contains(got.AfterWrong, "Sign in") ||
		!strings.Contains(strings.ToLower(got.AfterWrong), "password") || got.AfterWrongUsername != oidcUser {
		t.Errorf("after a wrong password the page read %q (username field %q)", got.AfterWrong, got.AfterWrongUsername)
	}
	// The consent page names the app by the name it chose, as text: no
	// image, no script run; and says whom it acts for and that it
	// registered itself.
	if !strings.Contains(got.Consent, name) || !strings.Contains(got.Consent, oidcUser) ||
		!strings.Contains(got.Consent, "registered itself") || got.ConsentImages != 0 || len(got.Dialogs) != 0 {
		t.Errorf("the consent page read %q (%d images, dialogs %q)", got.Consent, got.ConsentImages, got.Dialogs)
	}
	// Allowed: back at the app with a code and its state, which the app
	// redeems with its verifier.
	landed, err := url.Parse(got.Landed)
	if err != nil || !strings.HasPrefix(got.Landed, redirect) || landed.Query().Get("state") != state || landed.Query().Get("code") == "" {
		t.Fatalf("the browser landed on %q", got.Landed)
	}
	tok := oidcToken(t, d, "", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"code": {landed.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if tok.status != 200 || tok.str("access_token") == "" || tok.str("id_token") == "" {
		t.Errorf("redeeming the code: %d %v", tok.status, tok.body)
	}
}
