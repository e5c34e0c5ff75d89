package identity

import (
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestReenabledClientIsNotThrottled: a disabled client keeps calling with
// its right secret (a service retrying, as services do); no secret is
// checked for it, so nothing was guessed. Enabled again, it authenticates
// at once. Before, each refusal counted as a failed guess at its secret
// from its own address: past ten (or the address's limit), the client an
// admin had just enabled again was refused with its right secret for the
// rest of the window.
func TestReenabledClientIsNotThrottled(t *testing.T) {
	// Past both limits: the client's own, and its address's.
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerIP = 5 })
	cc := url.Values{"grant_type": {"client_credentials"}}
	setDisabled := func(d bool) {
		t.Helper()
		if err := h.db.Clients().Update(t.Context(), "agent", func(c store.Client) (store.Client, error) {
			c.Disabled = d
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Second) // the client cache's bound
	}
	setDisabled(true)
	for range 12 {
		if r := h.token("agent", "agent-secret", cc); r.Error != "invalid_client" {
			t.Fatalf("a disabled client: %d %v", r.Status, r.JSON)
		}
	}
	setDisabled(false)
	if r := h.token("agent", "agent-secret", cc); r.Status != 200 {
		t.Errorf("enabled again, its right secret: %d %v", r.Status, r.JSON)
	}
}
