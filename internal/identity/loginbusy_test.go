package identity

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
)

// TestLoginBusy: with every password check taken, a sign-in waits its
// moment, then is answered 503 with Retry-After and "too many sign-ins at
// once", without computing argon2id, and is audited as a failure of reason
// "busy" (without the password); once a check is free, sign-in works.
func TestLoginBusy(t *testing.T) {
	h := newHarness(t, func(p *Provider) {
		p.MaxPasswordChecks = 2
		p.pwWait = time.Millisecond // the checks are held below: waiting longer changes nothing
	})
	if n := cap(h.p.pwChecks); n != 2 {
		t.Fatalf("%d password checks at once, want MaxPasswordChecks = 2", n)
	}
	// Every check in use, as by two slow sign-ins.
	h.p.pwChecks <- struct{}{}
	h.p.pwChecks <- struct{}{}
	held := 2
	t.Cleanup(func() {
		for range held {
			<-h.p.pwChecks
		}
	})

	const secret = "correct horse battery"
	computed := password.Computed()
	var pages []string
	for _, user := range []string{"alice", "nobody"} {
		resp := h.login(h.browser(), user, secret, nil)
		html := body(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d, Retry-After %q; want 503 with Retry-After", user, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(html, busyLogin) || strings.Contains(html, badLogin) {
			t.Errorf("%s: the page does not say the server is busy:\n%s", user, html)
		}
		if strings.Contains(resp.Header.Get("Set-Cookie"), "ghs_") {
			t.Errorf("%s: a session was started", user)
		}
		// A known and an unknown username get the same page.
		pages = append(pages, csrfRE.ReplaceAllString(strings.ReplaceAll(html, `value="`+user+`"`, ""), ""))
		ev, ok := h.audit.last(audit.LoginFailed)
		// An unknown name is not recorded (recordedUsername).
		actor := map[string]string{"alice": "alice", "nobody": ""}[user]
		if !ok || ev.Actor != actor || ev.Status != "refused" || ev.Detail["reason"] != reasonBusy || ev.RemoteAddr != "127.0.0.1" {
			t.Errorf("%s: login.failed event %+v, want reason %q", user, ev, reasonBusy)
		}
		if s := fmt.Sprintf("%+v", ev); strings.Contains(s, secret) {
			t.Errorf("%s: the password reached the audit trail: %s", user, s)
		}
	}
	if pages[0] != pages[1] {
		t.Errorf("busy pages differ for a known and an unknown user:\n%s\n---\n%s", pages[0], pages[1])
	}
	if n := password.Computed() - computed; n != 0 {
		t.Errorf("%d argon2id computations while every check was taken", n)
	}

	// One check comes free: a sign-in goes through.
	<-h.p.pwChecks
	held--
	resp := h.login(h.browser(), "alice", pw, nil)
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login with a free check: %d, want 303", resp.StatusCode)
	}
	if _, ok := h.audit.last(audit.LoginSucceeded); !ok {
		t.Error("no login.succeeded event")
	}
	if n := len(h.p.pwChecks); n != held {
		t.Errorf("%d checks in use after the sign-in, want %d: a check was not given back", n, held)
	}
}

// The bound on password checks defaults to twice GOMAXPROCS.
func TestLoginBusyDefault(t *testing.T) {
	h := newHarness(t)
	if got, want := cap(h.p.pwChecks), 2*runtime.GOMAXPROCS(0); got != want {
		t.Errorf("%d password checks at once by default, want 2×GOMAXPROCS = %d", got, want)
	}
}

// A client secret kept as an argon2id hash is checked under the same
// bound: with every check taken, /token answers temporarily_unavailable
// with Retry-After, computes nothing and is audited as client.auth_failed
// of reason busy (without the secret); once one is free, it verifies.
func TestClientSecretBusy(t *testing.T) {
	h := newHarness(t, func(p *Provider) {
		p.MaxPasswordChecks = 1
		p.pwWait = time.Millisecond
	})
	h.p.pwChecks <- struct{}{}
	held := true
	t.Cleanup(func() {
		if held {
			<-h.p.pwChecks
		}
	})
	cc := url.Values{"grant_type": {"client_credentials"}}
	computed := password.Computed()
	r := h.token("billing", "billing-secret", cc)
	if r.Status != http.StatusTooManyRequests || r.Error != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Errorf("with every check taken: %d %v, Retry-After %q", r.Status, r.JSON, r.Header.Get("Retry-After"))
	}
	if n := password.Computed() - computed; n != 0 {
		t.Errorf("%d argon2id computations while every check was taken", n)
	}
	ev, ok := h.audit.last(audit.ClientAuthFailed)
	if !ok || ev.Agent != "billing" || ev.Detail["reason"] != "busy" {
		t.Errorf("the refusal is not audited as busy: %v %+v", ok, ev)
	}
	if s := fmt.Sprint(ev); strings.Contains(s, "billing-secret") {
		t.Errorf("the secret reached the audit trail: %s", s)
	}
	<-h.p.pwChecks
	held = false
	if r := h.token("billing", "billing-secret", cc); r.Status != 200 {
		t.Errorf("with a free check: %d %v", r.Status, r.JSON)
	}
	if n := len(h.p.pwChecks); n != 0 {
		t.Errorf("%d checks in use after the token, want 0", n)
	}
}
