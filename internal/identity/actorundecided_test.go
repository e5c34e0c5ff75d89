package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// oneUndecidedStore is the harness's store that cannot say whether the
// token jti is revoked.
type oneUndecidedStore struct {
	Store
	jti string
}

func (s oneUndecidedStore) Identity() store.Identity {
	return oneUndecidedIdentity{s.Store.Identity(), s.jti}
}

type oneUndecidedIdentity struct {
	store.Identity
	jti string
}

func (i oneUndecidedIdentity) Revoked(ctx context.Context, grantID, jti string) (bool, error) {
	if jti == i.jti {
		return false, errors.New("store down")
	}
	return i.Identity.Revoked(ctx, grantID, jti)
}

// TestExchangeActorUndecidedIsAServerError: an exchange whose actor_token
// the store cannot check is the server's failure (500, try again), not an
// invalid_request telling the agent its own token is wrong.
func TestExchangeActorUndecidedIsAServerError(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(context.Background(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	own := h.token("agent", "agent-secret", url.Values{"grant_type": {"client_credentials"}})
	var c accesstoken.Claims
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(own.Access, ".")[1])
	if err != nil || json.Unmarshal(payload, &c) != nil || c.JTI == "" {
		t.Fatalf("the agent's own token: %v %+v", err, c)
	}
	good := h.p.Store
	h.p.Store = oneUndecidedStore{good, c.JTI}
	r := h.token("agent", "agent-secret", exchangeForm(user.Access, "actor_token", own.Access, "actor_token_type", tokenTypeAccess))
	h.p.Store = good
	if r.Status != 500 || r.JSON["error"] != "server_error" {
		t.Errorf("actor token the store could not check: %d %v", r.Status, r.JSON)
	}
}
