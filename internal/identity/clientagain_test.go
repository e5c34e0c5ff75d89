package identity

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestClientAddedAgainSoonInheritsNothing: a client removed and added again
// under its old ID within accesstoken.CreationMargin, which the creation
// time alone does not tell from the removed one, inherits none of its
// access tokens, refresh tokens and consents: removing it ended them.
func TestClientAddedAgainSoonInheritsNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, nativeParams("scope", "openid offline_access")))
	resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	q := redirectQuery(t, resp, nativeRedirect)
	r := h.token("native", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {nativeRedirect}})
	if r.Status != 200 || r.Refresh == "" {
		t.Fatalf("redeem: %v", r.JSON)
	}
	old, err := h.db.Clients().Get(ctx, "native")
	if err != nil {
		t.Fatal(err)
	}
	// client remove: the record and what the client was given, in one
	// transaction, as the CLI and apply --prune do.
	err = h.db.InTx(ctx, func(tx store.Tenant) error {
		if err := tx.Clients().Delete(ctx, "native"); err != nil {
			return err
		}
		ended, err := tx.EndClient(ctx, "native", h.clock.Now().Add(24*time.Hour))
		if err == nil && (ended.Grants != 1 || ended.Consents != 1) {
			t.Errorf("ended %+v, want 1 grant and 1 consent", ended)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second)
	old.Name = "Another app"
	if err := h.db.Clients().Create(ctx, old); err != nil { // client add
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Second) // past the client cache
	if _, err := h.p.parseAccessToken(ctx, r.Access); err == nil {
		t.Errorf("the removed client's access token stands for the new client of its ID")
	}
	if x := h.token("native", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); x.Status == 200 {
		t.Errorf("the removed client's refresh token still gets tokens from the new client of its ID")
	}
	if q := redirectQuery(t, h.authorize(b, nativeParams("prompt", "none", "scope", "openid offline_access")), nativeRedirect); q.Get("code") != "" {
		t.Errorf("alice's consent to the removed client is the new client's: a code without asking her")
	}

	// The new client's own tokens, a moment after it was added, stand.
	csrf, authz = consentForm(t, h.authorize(b, nativeParams("scope", "openid offline_access")))
	if resp, err = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}}); err != nil {
		t.Fatal(err)
	}
	q = redirectQuery(t, resp, nativeRedirect)
	r = h.token("native", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {nativeRedirect}})
	if r.Status != 200 {
		t.Fatalf("the new client's redemption: %v", r.JSON)
	}
	if _, err := h.p.parseAccessToken(ctx, r.Access); err != nil {
		t.Errorf("the new client's own access token: %v", err)
	}
}
