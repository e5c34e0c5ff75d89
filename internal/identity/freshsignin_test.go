package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestFreshSignInNotMetByAnOldOne: a request for a fresh sign-in
// (prompt=login, max_age=0; or one within max_age=N) is met by a sign-in
// made after it (or within N seconds), and by no older one: not by an upstream provider answering from a session an hour
// old (it ignored prompt=login), not by taking the login page's way back
// without signing in. Either is answered login_required, as OpenID Connect
// asks, instead of a code. Before, the way back dropped what asked for the
// fresh sign-in, and any session passed.
func TestFreshSignInNotMetByAnOldOne(t *testing.T) {
	for _, demand := range [][]string{{"prompt", "login"}, {"max_age", "0"}} {
		// 30 s: the clock skew allowed an upstream's auth_time is no
		// allowance for a password sign-in, timed on Gatehouse's clock;
		// 3 s: past what replicas' clocks may differ by.
		for _, age := range []time.Duration{5 * time.Minute, 30 * time.Second, 3 * time.Second} {
			t.Run("way back without signing in "+demand[0]+" "+age.String(), func(t *testing.T) {
				h := newHarness(t)
				b := h.signedIn("alice")
				h.clock.Advance(age)
				resp := h.authorize(b, authParams(demand...))
				body(t, resp)
				login, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || !strings.HasPrefix(login.String(), h.url("/login?")) || login.Query().Get("fresh") != "1" {
					t.Fatalf("to %q, want the login page for a fresh sign-in", resp.Header.Get("Location"))
				}
				back := login.Query().Get("authz")
				if q, _ := url.ParseQuery(back); q.Has("prompt") || q.Get("max_age") == "0" || q.Get(loginAfterParam) == "" {
					t.Errorf("the way back %v: want no prompt=login or max_age=0, and %s", q, loginAfterParam)
				}
				resp, _ = b.Get(h.url("/authorize?" + back))
				if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "login_required" || q.Has("code") {
					t.Errorf("the way back without signing in: %v", q)
				}
				// Signing in on the login page meets it.
				resp = h.login(b, "alice", pw, login.Query())
				body(t, resp)
				resp, _ = b.Get(resp.Header.Get("Location"))
				if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
					t.Errorf("after a fresh sign-in: %v", q)
				}
			})
		}
	}
	// An upstream that answers from a session an hour old (it ignored
	// prompt=login and max_age): login_required, not a code, nor the login
	// page again (and again).
	for _, demand := range [][]string{{"prompt", "login"}, {"max_age", "0"}, {"max_age", "60"}} {
		t.Run("federated "+demand[0]+"="+demand[1], func(t *testing.T) {
			h, up := fedHarness(t)
			b := h.browser()
			up.set(func(u *fakeUpstream) { u.claims["auth_time"] = time.Now().Add(-time.Hour).Unix() })
			body(t, fedSignIn(t, h, b, authParams())) // a session, through Okta
			resp := h.authorize(b, authParams(demand...))
			body(t, resp)
			resp, _ = b.Get(resp.Header.Get("Location")) // the login page
			resp = pressOkta(t, h, b, body(t, resp))
			body(t, resp)
			resp, _ = b.Get(resp.Header.Get("Location")) // the upstream answers at once
			body(t, resp)
			resp, _ = b.Get(resp.Header.Get("Location")) // Gatehouse's callback
			body(t, resp)
			resp, _ = b.Get(resp.Header.Get("Location")) // the authorization request again
			if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "login_required" || q.Has("code") {
				t.Errorf("%s=%s met by an upstream sign-in an hour old: %v", demand[0], demand[1], q)
			}
		})
	}
	// An upstream whose clock runs behind Gatehouse's dates a sign-in made
	// for the request a little before it: within the allowed skew, it meets
	// the demand.
	t.Run("federated within the skew", func(t *testing.T) {
		h, up := fedHarness(t)
		b := h.browser()
		body(t, fedSignIn(t, h, b, authParams()))
		resp := h.authorize(b, authParams("prompt", "login"))
		body(t, resp)
		up.set(func(u *fakeUpstream) { u.claims["auth_time"] = h.clock.Now().Add(-30 * time.Second).Unix() })
		follow := func() *http.Response {
			t.Helper()
			next, err := b.Get(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			return next
		}
		resp = follow() // the login page
		resp = pressOkta(t, h, b, body(t, resp))
		body(t, resp)
		resp = follow() // the upstream
		body(t, resp)
		resp = follow() // Gatehouse's callback
		body(t, resp)
		resp = follow() // the authorization request again
		if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
			t.Errorf("an upstream sign-in 30 s behind Gatehouse's clock: %v", q)
		}
	})
	// What the parameter says is checked like any other.
	h := newHarness(t)
	resp := h.authorize(h.signedIn("alice"), authParams(loginAfterParam, "soon"))
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "invalid_request" {
		t.Errorf("%s=soon: %v", loginAfterParam, q)
	}
}

// TestConsentRechecksTheSignIn: a consent page answered after the request's
// max_age has passed goes back to the authorization request, which asks
// for a sign-in again, instead of issuing a code for a sign-in older than
// the client allowed. Refusing needs no fresh sign-in.
func TestConsentRechecksTheSignIn(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, nativeParams("max_age", "60")))
	h.clock.Advance(10 * time.Minute)
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	body(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/authorize?")) {
		t.Fatalf("consent 10 minutes after sign-in with max_age=60: %d %q, want back to /authorize", resp.StatusCode, loc)
	}
	resp, _ = b.Get(resp.Header.Get("Location"))
	body(t, resp)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, h.url("/login?")) {
		t.Errorf("then: %q, want the login page", loc)
	}
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
	if q := redirectQuery(t, resp, nativeRedirect); q.Get("error") != "access_denied" {
		t.Errorf("deny: %v", q)
	}
}

// TestPromptConsentForFirstParty: prompt=consent shows the consent page
// also for a first-party client, which is otherwise not asked about.
func TestPromptConsentForFirstParty(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	if c := h.code(b, authParams()); c == "" {
		t.Fatal("no code without prompt=consent")
	}
	resp := h.authorize(b, authParams("prompt", "consent"))
	if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, "Allow access?") {
		t.Errorf("prompt=consent for a first-party client: %d %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestFederatedFreshSignInNeedsAuthTime: an app's demand for a fresh
// sign-in (prompt=login, max_age) is passed to the upstream, and the
// session dates from the upstream's auth_time. An upstream that ignores
// the demand and answers from the session it already has, 100 s old,
// without saying when the person signed in (no auth_time) must not meet
// the demand: the app gets login_required, the audit trail a refused
// sign-in. Before, such an answer dated the session now and the app got a
// code. The upstream is asked for max_age=0 with prompt=login, since only
// max_age obliges it to send auth_time.
func TestFederatedFreshSignInNeedsAuthTime(t *testing.T) {
	for _, tc := range []struct {
		demand []string
		asked  url.Values // what the upstream must be asked besides the rest
	}{
		{[]string{"prompt", "login"}, url.Values{"prompt": {"login"}, "max_age": {"0"}}},
		{[]string{"max_age", "0"}, url.Values{"prompt": {"login"}, "max_age": {"0"}}},
		{[]string{"max_age", "60"}, url.Values{"max_age": {"60"}}},
	} {
		demand := tc.demand
		for _, signedIn := range []bool{true, false} {
			name := demand[0] + "=" + demand[1]
			if !signedIn {
				name += " without a session"
			}
			t.Run(name, func(t *testing.T) {
				h, up := fedHarness(t) // the fake upstream never asks anything and sends no auth_time
				b := h.browser()
				if signedIn {
					body(t, fedSignIn(t, h, b, authParams())) // a session, through Okta
					h.clock.Advance(100 * time.Second)
				}
				resp := h.authorize(b, authParams(demand...))
				body(t, resp)
				resp, _ = b.Get(resp.Header.Get("Location")) // the login page
				resp = pressOkta(t, h, b, body(t, resp))
				body(t, resp)
				resp, _ = b.Get(resp.Header.Get("Location")) // the upstream answers at once, no auth_time
				body(t, resp)
				up.set(func(u *fakeUpstream) {
					for k := range tc.asked {
						if u.asked.Get(k) != tc.asked.Get(k) {
							t.Errorf("the upstream was asked %s=%q, want %q", k, u.asked.Get(k), tc.asked.Get(k))
						}
					}
					if !tc.asked.Has("prompt") && u.asked.Has("prompt") {
						t.Errorf("the upstream was asked prompt=%s", u.asked.Get("prompt"))
					}
				})
				resp, _ = b.Get(resp.Header.Get("Location")) // Gatehouse's callback
				body(t, resp)
				resp, _ = b.Get(resp.Header.Get("Location")) // the authorization request again
				if q := redirectQuery(t, resp, webRedirect); q.Has("code") || q.Get("error") != "login_required" {
					t.Errorf("%s=%s met by an upstream answer that does not say when the person signed in: %v", demand[0], demand[1], q)
				}
				if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != "auth_time_missing" || ev.Status != "refused" {
					t.Errorf("audit event %+v, want a refused sign-in for auth_time_missing", ev)
				}
			})
		}
	}
}
