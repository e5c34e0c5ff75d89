package identity

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestRotateNowEndsOldTokens: 'keys rotate --now' answers a compromised
// key, so what the old key signed stops verifying at once, for the gateway
// and the admin API (accesstoken.Verify) as for introspection. Before, the
// old key stayed published, and trusted, for a day.
func TestRotateNowEndsOldTokens(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	verify := func() error {
		_, err := accesstoken.Verify(h.p.Keys, r.Access, h.p.Issuer, h.p.MCPResource, h.clock.Now())
		return err
	}
	if err := verify(); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	if err := h.p.Keys.RotateNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := verify(); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("an access token of the replaced key after rotate now: %v, want %v", err, keys.ErrUnknownKey)
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}}); in.JSON["active"] != false {
		t.Errorf("introspection of an access token of the replaced key: %v", in.JSON)
	}
	// What the new keys sign verifies.
	if r := h.userTokens(); r.Access == "" {
		t.Fatal("no access token after the rotation")
	} else if _, err := accesstoken.Verify(h.p.Keys, r.Access, h.p.Issuer, h.p.MCPResource, h.clock.Now()); err != nil {
		t.Errorf("an access token of the new key: %v", err)
	}
}

// TestLogoutWithHintOfWithdrawnKey: after 'keys rotate --now' every ID
// token a relying party holds was signed by the withdrawn key, and its
// logout link carries one. The hint vouches for nothing any more, but the
// person must still be able to sign out: asked, as without a hint, not
// shown an error page with the session left alive.
func TestLogoutWithHintOfWithdrawnKey(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams()))
	if err := h.p.Keys.RotateNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Get(h.url("/logout?" + url.Values{"id_token_hint": {r.ID}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout with an ID token of the withdrawn key: %d, want 200 (the person asked)", resp.StatusCode)
	}
}
