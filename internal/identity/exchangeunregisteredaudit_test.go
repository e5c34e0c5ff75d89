package identity

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestExchangeByAClientNotRegisteredForItIsRecorded: a client that
// registered itself for the authorization code grant only, asking to act
// for alice with her token, is refused (unauthorized_client) and the
// trail says so, as it does for any client that may not exchange (a web
// app, a service). Before, the refusal came before the exchange was
// looked at, and left no token.exchanged record.
func TestExchangeByAClientNotRegisteredForItIsRecorded(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	reg := h.register(`{"redirect_uris":["https://other.example/cb"]}`)
	id, secret := reg.JSON["client_id"].(string), reg.JSON["client_secret"].(string)
	if reg.Status != 201 || secret == "" {
		t.Fatalf("register: %d %v", reg.Status, reg.JSON)
	}
	if r := h.token(id, secret, exchangeForm(user.Access)); r.Status != 400 || r.Error != "unauthorized_client" {
		t.Fatalf("exchange: %d %v, want unauthorized_client", r.Status, r.JSON)
	}
	ev, ok := h.audit.last(audit.TokenExchanged)
	if !ok || ev.Status != "refused" || ev.Agent != id || ev.Detail["error"] != "unauthorized_client" {
		t.Errorf("refusal recorded as %+v (found %v)", ev, ok)
	}
}
