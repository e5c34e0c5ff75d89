package identity

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestFederatedKeysOutlastAJWKSOutage: once the hour the upstream's keys
// are cached for has passed, a sign-in fetches them again; when the
// upstream's JWKS endpoint does not answer then, the key already known
// still verifies its ID tokens, for up to a day past the last fetch, so
// that a blip of the upstream's key endpoint does not stop every
// federated sign-in. Past that day, or for a key not known, the sign-in
// is refused as before. Before, the key was dropped with the hour.
func TestFederatedKeysOutlastAJWKSOutage(t *testing.T) {
	h, up := fedHarness(t)
	up.tamper = func(c map[string]any) {
		c["iat"], c["exp"] = h.clock.Now().Unix(), h.clock.Now().Add(time.Minute).Unix()
	}
	signIn := func() (int, string) {
		resp := fedSignIn(t, h, h.browser(), authParams())
		body(t, resp)
		ev, _ := h.audit.last(audit.LoginFailed)
		reason, _ := ev.Detail["reason"].(string)
		return resp.StatusCode, reason
	}
	if status, _ := signIn(); status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", status)
	}
	up.mu.Lock()
	up.keysOut = true
	up.mu.Unlock()
	h.clock.Advance(2 * time.Hour)
	if status, reason := signIn(); status != http.StatusSeeOther {
		t.Fatalf("two hours on, the JWKS endpoint down: %d %s, want signed in with the key known", status, reason)
	}
	h.clock.Advance(23 * time.Hour)
	if status, reason := signIn(); status != http.StatusBadGateway || reason != "upstream_token" {
		t.Fatalf("a day past the last fetch, the JWKS endpoint down: %d %s, want refused", status, reason)
	}
}
