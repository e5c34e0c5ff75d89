package gateway_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
)

// TestClientRemovalAskedOncePerCatalogue: a token issued in its client's
// first second (a client registered and used at once) cannot be told from
// an earlier client's of the ID by the creation time alone, so the store
// is asked when a client of the ID was removed; it is asked once, not on
// each of the token's requests: static configuration is not read per call.
func TestClientRemovalAskedOncePerCatalogue(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, err := e.st.Clients().Get(context.Background(), "acme-assistant")
	if err != nil {
		t.Fatal(err)
	}
	tok := e.token("alice", "acme-assistant", func(cl *accesstoken.Claims) { cl.IssuedAt = c.CreatedAt.Unix() })
	alice := e.connectToken(tok, "2025-11-25", nil)
	before := gateway.EndedReads()
	for range 5 {
		if r := call(t, alice, "sales_report", map[string]any{"month": "2026-10"}); r.IsError {
			t.Fatalf("call: %s", text(r))
		}
	}
	if n := gateway.EndedReads() - before; n > 1 {
		t.Errorf("the store was asked %d times in 5 calls of one token", n)
	}
}
