package identity

import (
	"slices"
	"testing"
)

// TestFederatedRolesClaimStringIsOneValue: an upstream that sends a
// multi-valued claim with one value as a string (AD FS and PingFederate
// do) names one group, whose name may have spaces in it ("Sales
// Interns", "Domain Admins"). Splitting it into words gave the person in
// the group "Sales Interns" the roles of the group "Sales".
func TestFederatedRolesClaimStringIsOneValue(t *testing.T) {
	for _, tc := range []struct {
		groups string
		want   []string
	}{
		{"Sales Interns", []string{"staff"}},
		{"Sales", []string{"sales-manager", "staff"}},
	} {
		t.Run(tc.groups, func(t *testing.T) {
			h, up := fedHarness(t)
			up.set(func(u *fakeUpstream) { u.claims["groups"] = tc.groups })
			resp := fedSignIn(t, h, h.browser(), authParams())
			body(t, resp)
			u, err := h.db.Users().Get(t.Context(), "okta:00u1")
			if err != nil {
				t.Fatalf("no user after the sign-in (%d): %v", resp.StatusCode, err)
			}
			if !slices.Equal(u.Roles, tc.want) {
				t.Errorf("groups %q gave roles %v, want %v", tc.groups, u.Roles, tc.want)
			}
		})
	}
}
