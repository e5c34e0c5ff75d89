package identity

import (
	"net/http"
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
