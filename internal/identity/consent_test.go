package identity

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
)

func nativeParams(extra ...string) url.Values {
	return authParams(append([]string{"client_id", "native", "redirect_uri", nativeRedirect}, extra...)...)
}

var authzRE = regexp.MustCompile(`name="authz" value="([^"]+)"`)

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// consentForm returns the consent page's CSRF token and authz.
func consentForm(t *testing.T, resp *http.Response) (string, string) {
	t.Helper()
	html := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(html, "Allow access?") {
		t.Fatalf("no consent page: %d %s", resp.StatusCode, html)
	}
	m := authzRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no authz field")
	}
	return csrfOf(t, html), unescapeHTML(m[1])
}

func TestConsent(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, nativeParams()))

	// Deny: access_denied back to the client.
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
	if q := redirectQuery(t, resp, nativeRedirect); q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("iss") != h.srv.URL {
		t.Errorf("deny: %v", q)
	}
	// Wrong CSRF: refused.
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {"x"}, "authz": {authz}, "decision": {"allow"}})
	body(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad CSRF: %d", resp.StatusCode)
	}
	// Without a session: refused.
	resp, _ = h.browser().PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	body(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no session: %d", resp.StatusCode)
	}
	// A tampered authz with an unregistered redirect: an error page.
	bad, _ := url.ParseQuery(authz)
	bad.Set("redirect_uri", "https://evil.example/")
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {bad.Encode()}, "decision": {"allow"}})
	body(t, resp)
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("tampered: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Allow: a code, and the consent is remembered.
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	q := redirectQuery(t, resp, nativeRedirect)
	if q.Get("code") == "" {
		t.Fatalf("allow: %v", q)
	}
	r := h.token("native", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {nativeRedirect}})
	if r.Status != 200 || r.Refresh == "" {
		t.Fatalf("public client redeem: %v", r.JSON)
	}
	if ev, ok := h.audit.last(audit.ConsentGranted); !ok || ev.Actor != "alice" || ev.Agent != "native" {
		t.Errorf("event %+v", ev)
	}
	if q := redirectQuery(t, h.authorize(b, nativeParams()), nativeRedirect); q.Get("code") == "" {
		t.Errorf("remembered consent: %v", q)
	}
	// prompt=none works now; a wider scope needs consent again.
	if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none")), nativeRedirect); q.Get("code") == "" {
		t.Errorf("prompt=none with consent: %v", q)
	}
	if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", "openid tools")), nativeRedirect); q.Get("error") != "consent_required" {
		t.Errorf("wider scope with prompt=none: %v", q)
	}
	consentForm(t, h.authorize(b, nativeParams("scope", "openid tools")))
	// prompt=consent asks even when remembered.
	consentForm(t, h.authorize(b, nativeParams("prompt", "consent")))
	// Another person has not consented.
	consentForm(t, h.authorize(h.signedIn("bob"), nativeParams()))
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams()))

	// With an ID token of this session and a registered address: no
	// question, back to the client with state.
	v := url.Values{"id_token_hint": {r.ID}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s9"}}
	resp, err := b.Get(h.url("/logout?" + v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://app.example/bye?state=s9" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ev, ok := h.audit.last(audit.Logout); !ok || ev.Actor != "alice" || ev.Agent != "web" {
		t.Errorf("event %+v", ev)
	}
	// The session is gone.
	resp = h.authorize(b, authParams("prompt", "none"))
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "login_required" {
		t.Errorf("after logout: %v", q)
	}
}

func TestLogoutRefusalsAndConfirmation(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams()))
	for name, v := range map[string]url.Values{
		"unregistered address":   {"id_token_hint": {r.ID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"address without client": {"post_logout_redirect_uri": {"https://app.example/bye"}},
		"forged hint":            {"id_token_hint": {r.ID + "x"}},
		"client mismatch":        {"id_token_hint": {r.ID}, "client_id": {"native"}},
		"access token as hint":   {"id_token_hint": {r.Access}},
	} {
		resp, _ := b.Get(h.url("/logout?" + v.Encode()))
		body(t, resp)
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Without proof, the person is asked; a GET alone signs nobody out.
	resp, _ := b.Get(h.url("/logout?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=z"))
	html := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(html, "Sign out?") {
		t.Fatalf("confirmation: %d", resp.StatusCode)
	}
	if _, ok := h.audit.last(audit.Logout); ok {
		t.Fatal("a GET without proof signed out")
	}
	// Posting the confirmation (with the session's CSRF token) does; with
	// no ID token issued to the client, the person is not sent on to it.
	f := url.Values{"csrf": {csrfOf(t, html)}, "client_id": {"web"}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"z"}}
	resp, _ = b.PostForm(h.url("/logout"), f)
	if html := body(t, resp); resp.StatusCode != 200 || !strings.Contains(html, "You are signed out.") {
		t.Errorf("confirmed without a hint: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, ok := h.audit.last(audit.Logout); !ok {
		t.Error("the confirmation did not sign out")
	}
	// A hint of an earlier session of the tenant's client: asked, then
	// sent back.
	b = h.signedIn("alice")
	v := url.Values{"id_token_hint": {r.ID}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"z"}}
	resp, _ = b.Get(h.url("/logout?" + v.Encode()))
	html = body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(html, "Sign out?") {
		t.Fatalf("confirmation with an old hint: %d", resp.StatusCode)
	}
	v.Set("csrf", csrfOf(t, html))
	resp, _ = b.PostForm(h.url("/logout"), v)
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://app.example/bye?state=z" {
		t.Errorf("confirmed with a hint: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// No session: nothing to confirm.
	resp, _ = h.browser().Get(h.url("/logout"))
	if html := body(t, resp); resp.StatusCode != 200 || !strings.Contains(html, "You are signed out.") {
		t.Errorf("no session: %d", resp.StatusCode)
	}
}

// TestConsentAnswersAreAudited: the person's answer on the consent page,
// deny as well as allow, is in the audit trail with the person, the client
// and what it asked for, and never the code the allow leads to.
func TestConsentAnswersAreAudited(t *testing.T) {
	h := newHarness(t)
	l := h.durableAudit()
	b := h.signedIn("alice")
	ask := nativeParams("scope", "openid profile")

	csrf, authz := consentForm(t, h.authorize(b, ask))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
	if q := redirectQuery(t, resp, nativeRedirect); q.Get("error") != "access_denied" {
		t.Fatalf("deny: %v", q)
	}
	csrf, authz = consentForm(t, h.authorize(b, ask))
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	code := redirectQuery(t, resp, nativeRedirect).Get("code")
	if code == "" {
		t.Fatal("allow: no code")
	}

	for typ, decision := range map[string]string{"consent.denied": "deny", audit.ConsentGranted: "allow"} {
		got := stored(t, l, typ)
		if len(got) != 1 {
			t.Fatalf("%d %s records, want 1", len(got), typ)
		}
		e := got[0].Event
		if e.Actor != "alice" || e.Agent != "native" || e.Decision != decision || e.Session == "" || e.RemoteAddr == "" {
			t.Errorf("%s: %s", typ, got[0].Raw)
		}
		want := map[string]any{"scopes": []any{"openid", "profile"}, "resources": []any{h.srv.URL + "/mcp"}}
		if diff := cmp.Diff(want, e.Detail); diff != "" {
			t.Errorf("%s detail (-want +got):\n%s", typ, diff)
		}
		if raw := string(got[0].Raw); strings.Contains(raw, code) || strings.Contains(raw, csrf) {
			t.Errorf("%s records a secret: %s", typ, raw)
		}
	}
}

// TestConsentToSomeToolsIsNoConsentToAll: a consent naming tools covers
// those tools only. A request naming no tool asks for every tool, so it
// needs consent again (prompt=none: consent_required) instead of getting
// a token that reaches every tool the person may call; once the person
// allows every tool, a request for some of them is covered.
func TestConsentToSomeToolsIsNoConsentToAll(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	allow := func(params url.Values) url.Values {
		t.Helper()
		csrf, authz := consentForm(t, h.authorize(b, params))
		resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
		return redirectQuery(t, resp, nativeRedirect)
	}
	if q := allow(nativeParams("scope", "openid tool:sales_report")); q.Get("code") == "" {
		t.Fatalf("allow one tool: %v", q)
	}
	if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", "openid tool:sales_report")), nativeRedirect); q.Get("code") == "" {
		t.Errorf("the consented tool again: %v", q)
	}
	for _, scope := range []string{"openid", "openid tool:payroll_report"} {
		if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", scope)), nativeRedirect); q.Get("error") != "consent_required" {
			t.Errorf("%q under a consent to one tool, prompt=none: %v", scope, q)
		}
	}
	// The consent page asks for every tool; allowed, it covers any.
	if q := allow(nativeParams("scope", "openid")); q.Get("code") == "" {
		t.Fatalf("allow every tool: %v", q)
	}
	for _, scope := range []string{"openid", "openid tool:payroll_report", "openid tool:sales_report"} {
		if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", scope)), nativeRedirect); q.Get("code") == "" {
			t.Errorf("%q under a consent to every tool: %v", scope, q)
		}
	}
}

// TestConsentAtAnotherResourceGivesNothingAtMCP: a consent is its scopes
// at its resources. A consent at another resource (naming no tool, or
// offline_access) added to a consent to one tool at /mcp must not read as
// every tool, or offline access, at /mcp.
func TestConsentAtAnotherResourceGivesNothingAtMCP(t *testing.T) {
	for _, other := range []string{"openid", "openid offline_access"} {
		t.Run(other, func(t *testing.T) {
			h := newHarness(t)
			b := h.signedIn("alice")
			allow := func(params url.Values) {
				t.Helper()
				csrf, authz := consentForm(t, h.authorize(b, params))
				resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
				if q := redirectQuery(t, resp, nativeRedirect); q.Get("code") == "" {
					t.Fatalf("allow %v: %v", params, q)
				}
			}
			allow(nativeParams("scope", "openid tool:sales_report"))
			allow(nativeParams("scope", other, "resource", "https://api.example/"))
			if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", other)), nativeRedirect); q.Get("error") != "consent_required" {
				t.Errorf("%q at /mcp after a consent to it elsewhere: %v", other, q)
			}
			// The consent at the other resource says nothing of tools.
			if html := body(t, h.authorize(b, nativeParams("scope", "openid email", "resource", "https://api.example/"))); strings.Contains(html, "call tools") {
				t.Errorf("the consent page at another resource speaks of tools")
			}
		})
	}
}

// The consent page says what a token for another resource than /mcp lets
// the client do, in the words the provider was given, or as acting as the
// person at its URI; the reassurance that tool calls are checked is shown
// only when the consent covers /mcp, where it holds.
func TestConsentSaysWhatAResourceAllows(t *testing.T) {
	const adminText = "use the admin API as you: read everyone's audit trail"
	h := newHarness(t, func(p *Provider) {
		p.Resources = append(p.Resources, "https://admin.example/api")
		p.ResourceText = map[string]string{"https://admin.example/api": adminText}
	})
	b := h.signedIn("alice")
	for _, tc := range []struct {
		resources []string
		want      []string
		not       []string
	}{
		{nil, []string{"call tools for you", "still checked against your permissions"}, []string{"act as you at", adminText}},
		{[]string{"https://admin.example/api"}, []string{adminText}, []string{"call tools", "still checked"}},
		{[]string{"https://api.example/"}, []string{"act as you at https://api.example/"}, []string{"call tools", "still checked"}},
	} {
		params := nativeParams()
		for _, r := range tc.resources {
			params.Add("resource", r)
		}
		resp := h.authorize(b, params)
		html := unescapeHTML(body(t, resp))
		if resp.StatusCode != 200 || !strings.Contains(html, "Allow access?") {
			t.Fatalf("%v: no consent page: %d %s", tc.resources, resp.StatusCode, html)
		}
		for _, w := range tc.want {
			if !strings.Contains(html, w) {
				t.Errorf("%v: the page does not say %q:\n%s", tc.resources, w, html)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(html, n) {
				t.Errorf("%v: the page says %q:\n%s", tc.resources, n, html)
			}
		}
	}
}
