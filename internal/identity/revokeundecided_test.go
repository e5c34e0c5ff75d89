package identity

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// undecidedStore is the harness's store whose revocation checks fail.
type undecidedStore struct{ Store }

func (s undecidedStore) Identity() store.Identity { return undecidedIdentity{s.Store.Identity()} }

type undecidedIdentity struct{ store.Identity }

func (undecidedIdentity) Revoked(context.Context, string, string) (bool, error) {
	return false, errors.New("store down")
}

// TestRevokeUndecidedIsNoSuccess: an access token whose standing the store
// cannot check is not revoked, so the revocation is a server error, not
// the 200 that tells the client (RFC 7009 §2.2) its token is gone. Before,
// the store's failure read as an invalid token: 200, and the token went on
// working.
func TestRevokeUndecidedIsNoSuccess(t *testing.T) {
	h := newHarness(t)
	r := h.userTokens()
	good := h.p.Store
	h.p.Store = undecidedStore{good}
	x := h.post("/revoke", "web", "web-secret", url.Values{"token": {r.Access}})
	h.p.Store = good
	if x.Status == 200 {
		t.Errorf("revocation the store could not decide: 200")
	}
	if in := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {r.Access}}); x.Status == 200 && in.JSON["active"] == true {
		t.Errorf("the token answered 200 for is still active")
	}
}
