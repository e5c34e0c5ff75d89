package identity

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestUpstreamIDTokenRefusedAtExpiryPlusSkew: an upstream's ID token is
// taken until its exp plus the minute of clock skew, and refused from that
// second on, as every other lifetime here ends (an access token at exp
// plus its skew, a code, a refresh token, a session, a slip: refused at
// the boundary, not one second after it). The check was now > exp+skew,
// which took a token whose allowance had just run out.
func TestUpstreamIDTokenRefusedAtExpiryPlusSkew(t *testing.T) {
	for _, tc := range []struct {
		name string
		past int64 // how far now is past exp, in seconds
		ok   bool
	}{
		{"last second of the skew", skewSeconds - 1, true},
		{"skew over", skewSeconds, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, up := fedHarness(t)
			now := h.clock.Now().Unix()
			up.set(func(u *fakeUpstream) {
				u.tamper = func(c map[string]any) { c["exp"] = now - tc.past; c["iat"] = now - tc.past - 60 }
			})
			resp := fedSignIn(t, h, h.browser(), authParams())
			body(t, resp)
			signedIn := resp.StatusCode == http.StatusSeeOther
			if signedIn != tc.ok {
				ev, _ := h.audit.last(audit.LoginFailed)
				t.Fatalf("now = exp + %d s: signed in %v (%d, %+v), want %v", tc.past, signedIn, resp.StatusCode, ev.Detail, tc.ok)
			}
		})
	}
}

// TestCodeOfAnEndedSignInIssuesNothing: a grant without offline_access
// lasts as long as the sign-in it came from, and signing out ends it
// (README). A code issued just before the person signed out was still
// redeemed after it: the app got an access token and an ID token for a
// sign-in that had ended, and a refresh token refused at its first use
// ("the sign-in this grant came from has ended"). It is refused now, as
// that refresh is; a code of a grant with offline_access, which outlives
// the sign-in, is still redeemed.
func TestCodeOfAnEndedSignInIssuesNothing(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	first := h.redeem(h.code(b, authParams()))
	online := h.code(b, authParams())
	offline := h.code(b, authParams("scope", "openid offline_access"))
	resp, err := b.Get(h.url("/logout?" + url.Values{"id_token_hint": {first.ID}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if ev, ok := h.audit.last(audit.Logout); !ok || ev.Actor != "alice" {
		t.Fatalf("no logout: %d %+v", resp.StatusCode, ev)
	}
	if r := h.redeem(online); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" || r.Access != "" {
		t.Errorf("a code of the ended sign-in, without offline_access: %d %s, want invalid_grant", r.Status, r.Error)
	}
	if r := h.redeem(offline); r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("a code with offline_access after the sign-out: %d %s", r.Status, r.Error)
	} else if x := refresh(h, r.Refresh); x.Status != http.StatusOK {
		t.Errorf("its refresh: %d %s", x.Status, x.Error)
	}
}

// TestIntrospectedRefreshTokenExpiresWithItsSignIn: introspection's exp
// is when the token stops working (RFC 7662 section 2.2). A refresh token
// of a grant without offline_access stops with its sign-in, 12 hours at
// most, but was introspected with its own 14 days: a client trusting exp
// took it for usable long after /token refused it. With offline_access,
// exp stays the token's own.
func TestIntrospectedRefreshTokenExpiresWithItsSignIn(t *testing.T) {
	h := newHarness(t)
	exp := func(tok string) time.Time {
		in := h.post("/introspect", "web", "web-secret", url.Values{"token": {tok}})
		e, ok := in.JSON["exp"].(float64)
		if in.JSON["active"] != true || !ok {
			t.Fatalf("introspection: %v", in.JSON["active"])
		}
		return time.Unix(int64(e), 0)
	}
	signedIn := h.clock.Now()
	online := h.userTokens()
	if got, end := exp(online.Refresh), signedIn.Add(h.p.sessionTTL()); got.After(end) {
		t.Errorf("without offline_access: exp %v after the sign-in's end %v", got, end)
	}
	offline := h.userTokens("scope", "openid offline_access")
	if got, want := exp(offline.Refresh), h.clock.Now().Add(h.p.refreshTTL()).Truncate(time.Second); !got.Equal(want) {
		t.Errorf("with offline_access: exp %v, want its own %v", got, want)
	}
}
