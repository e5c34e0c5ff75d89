package identity

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestTokenOfAnotherClientRecorded: a code or refresh token presented by
// a client it was not issued to is refused, as before, and now recorded
// (token.wrong_client): the presenting client, the person and client the
// token was issued to, the grant type; never the token. Only a stolen
// token gets into another client's hands, and the trail is where a
// security team looks for one. The code stays usable by its own client.
func TestTokenOfAnotherClientRecorded(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	code := h.code(b, authParams())
	stolen := h.token("agent", "agent-secret", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {webRedirect}})
	if stolen.Status != http.StatusBadRequest || stolen.Error != "invalid_grant" {
		t.Fatalf("another client's code: %d %v", stolen.Status, stolen.JSON)
	}
	ev, ok := h.audit.last(audit.TokenWrongClient)
	if !ok || ev.Actor != "alice" || ev.Agent != "agent" || ev.Status != "refused" ||
		ev.Detail["grant_type"] != "authorization_code" || ev.Detail["issued_to"] != "web" {
		t.Fatalf("the refusal recorded as %+v (found %v)", ev, ok)
	}
	r := h.redeem(code)
	if r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("the code by its own client after the refusal: %d %v", r.Status, r.JSON)
	}
	stolen = h.token("agent", "agent-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}})
	if stolen.Status != http.StatusBadRequest || stolen.Error != "invalid_grant" {
		t.Fatalf("another client's refresh token: %d %v", stolen.Status, stolen.JSON)
	}
	ev, ok = h.audit.last(audit.TokenWrongClient)
	if !ok || ev.Actor != "alice" || ev.Agent != "agent" || ev.Detail["grant_type"] != "refresh_token" || ev.Detail["issued_to"] != "web" {
		t.Fatalf("the refresh refusal recorded as %+v", ev)
	}
	for _, e := range h.audit.events {
		for _, secret := range []string{code, r.Refresh, "agent-secret"} {
			if strings.Contains(fmt.Sprintf("%+v", e), secret) {
				t.Errorf("a record holds a secret: %+v", e)
			}
		}
	}
}
