package identity

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestFederatedSubjectBounded: an upstream subject longer than OpenID
// Connect allows (255 characters) is refused with the ID token, before
// any person is made or linked with it. Before, it was stored in the
// person's attributes at whatever length the upstream sent, when the
// username came from another claim.
func TestFederatedSubjectBounded(t *testing.T) {
	h, up := fedHarness(t, func(p *Provider) { p.Connections[0].UsernameClaim = "preferred_username" })
	up.claims["sub"] = strings.Repeat("s", 256)
	resp := fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if ev, _ := h.audit.last(audit.LoginFailed); resp.StatusCode != http.StatusBadGateway || ev.Detail["reason"] != "upstream_token" {
		t.Fatalf("a 256-character sub: %d %+v", resp.StatusCode, ev)
	}
	users, err := h.db.Users().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if strings.Contains(u.Username, "sss") || strings.Contains(u.Attributes[attrIdPSub], "sss") {
			t.Errorf("a person was made of it: %+v", u)
		}
	}
	up.claims["sub"] = strings.Repeat("s", 255)
	resp = fedSignIn(t, h, h.browser(), authParams())
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a 255-character sub: %d", resp.StatusCode)
	}
}
