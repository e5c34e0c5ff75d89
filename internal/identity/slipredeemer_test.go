package identity

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/slip"
)

// TestSlipWithoutRedeemerOnlyForServiceClients: an HTTP API tool's slip
// that names no redeemer is redeemed by a service client (the API) and by
// no other: an agent's introspection, an agent anyone can register say,
// neither reads the slip nor spends it before the API does. Before, any
// client with a secret could, and the allowed call then never ran.
func TestSlipWithoutRedeemerOnlyForServiceClients(t *testing.T) {
	var m *slip.Minter
	h := newHarness(t, func(p *Provider) {
		p.Introspect = func(ctx context.Context, tok, caller string, service bool) (map[string]any, bool) {
			return m.Introspect(ctx, tok, caller, service)
		}
	})
	m = &slip.Minter{Issuer: h.srv.URL, Keys: h.p.Keys, Store: h.db}
	tok, _, err := m.Mint(slip.Request{Tool: "refund", Args: []byte(`{"amount":10}`), Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, secret string }{{"agent", "agent-secret"}, {"web", "web-secret"}} {
		if x := h.post("/introspect", c.id, c.secret, url.Values{"token": {tok}}); len(x.JSON) != 1 || x.JSON["active"] != false {
			t.Errorf("%s: %v, want only active:false", c.id, x.JSON)
		}
	}
	if x := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}}); x.JSON["active"] != true {
		t.Errorf("the service client: %v, want the slip redeemed", x.JSON)
	}
}

// failingConsumer is a store that cannot mark anything used: a database
// that is down.
type failingConsumer struct{}

func (failingConsumer) Consume(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("database is down")
}

func (failingConsumer) PurgeConsumed(context.Context, time.Time) (int64, error) { return 0, nil }

// TestSlipIntrospectionStoreFailureIsNotInactive: when the issuer cannot
// decide whether a slip was used (its store fails), introspection answers
// a server error, which the API reports as the issuer unavailable (503),
// not {"active": false}, which says the slip was used, expired or is
// another client's. Before, a database outage made every API refuse its
// calls as replays ("permission slip already used").
func TestSlipIntrospectionStoreFailureIsNotInactive(t *testing.T) {
	var m *slip.Minter
	h := newHarness(t, func(p *Provider) {
		p.Introspect = func(ctx context.Context, tok, caller string, service bool) (map[string]any, bool) {
			return m.Introspect(ctx, tok, caller, service)
		}
	})
	m = &slip.Minter{Issuer: h.srv.URL, Keys: h.p.Keys, Store: failingConsumer{}}
	tok, _, err := m.Mint(slip.Request{Tool: "refund", Args: []byte(`{"amount":10}`), Subject: "alice", Redeemer: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	x := h.post("/introspect", "billing", "billing-secret", url.Values{"token": {tok}})
	if x.Status != http.StatusInternalServerError || x.JSON["active"] != nil {
		t.Errorf("introspection with the store down = %d %v, want a server error", x.Status, x.JSON)
	}
}
