package identity

import (
	"net/http"
	"net/url"
	"testing"

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
