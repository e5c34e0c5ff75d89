package identity

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestFederatedIDTokenAzp: an ID token names the client it was issued
// to in azp. One that names another client is not ours, whatever its
// aud says; and one for several audiences must say it was issued to us
// (OpenID Connect Core §3.1.3.7: an ID token with audiences the client
// does not trust is rejected, and Gatehouse trusts no other).
func TestFederatedIDTokenAzp(t *testing.T) {
	for _, tc := range []struct {
		name string
		aud  any
		azp  any // nil: none
		ok   bool
	}{
		{"one audience, azp another client", "gatehouse", "other-app", false},
		{"several audiences, no azp", []any{"gatehouse", "other-app"}, nil, false},
		{"several audiences, azp another client", []any{"gatehouse", "other-app"}, "other-app", false},
		{"several audiences, azp us", []any{"gatehouse", "other-app"}, "gatehouse", true},
		{"one audience, azp us", "gatehouse", "gatehouse", true},
		{"one audience, no azp", "gatehouse", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, up := fedHarness(t)
			up.set(func(u *fakeUpstream) {
				u.tamper = func(c map[string]any) {
					c["aud"] = tc.aud
					if tc.azp != nil {
						c["azp"] = tc.azp
					}
				}
			})
			resp := fedSignIn(t, h, h.browser(), authParams())
			body(t, resp)
			_, err := h.db.Users().Get(t.Context(), "okta:00u1")
			if got := resp.StatusCode == http.StatusSeeOther && err == nil; got != tc.ok {
				t.Fatalf("signed in = %v, want %v (%d)", got, tc.ok, resp.StatusCode)
			}
			if !tc.ok {
				if ev, ok := h.audit.last(audit.LoginFailed); !ok || ev.Detail["reason"] != "upstream_token" {
					t.Errorf("event %+v", ev)
				}
			}
		})
	}
}
