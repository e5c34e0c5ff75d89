package identity

import (
	"net/url"
	"testing"
	"time"
)

// TestIntrospectionOfAccessTokens: a person's access token is described to
// a resource server (a service client) and to the client it was issued
// to; any other client, a self-registered one included, learns only
// active:false, as for a token it made up. From its expiry on, by the
// issuer's clock, it is inactive for everyone (RFC 7662), although a
// resource server still accepts it for the few seconds of clock skew
// allowed between replicas. Before, any confidential client learned whose
// a token was, its scopes and chain, and whether it had been revoked;
// and an expired token read as active for those seconds.
func TestIntrospectionOfAccessTokens(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	reg := h.register(`{"redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if reg.Status != 201 {
		t.Fatalf("register: %v", reg.JSON)
	}
	stranger, strangerSecret := reg.JSON["client_id"].(string), reg.JSON["client_secret"].(string)
	ask := func(id, secret string) tokenResult {
		return h.post("/introspect", id, secret, url.Values{"token": {user.Access}})
	}
	for _, c := range []struct{ id, secret string }{{"billing", "billing-secret"}, {"web", "web-secret"}} {
		if in := ask(c.id, c.secret); in.JSON["active"] != true || in.JSON["username"] != "alice" {
			t.Errorf("%s: %v, want alice's active token", c.id, in.JSON)
		}
	}
	if in := ask(stranger, strangerSecret); in.Status != 200 || len(in.JSON) != 1 || in.JSON["active"] != false {
		t.Errorf("a self-registered client: %d %v, want only active:false", in.Status, in.JSON)
	}
	if in := ask("agent", "agent-secret"); len(in.JSON) != 1 || in.JSON["active"] != false {
		t.Errorf("another agent: %v, want only active:false", in.JSON)
	}
	exp := int64(claims(t, user.Access)["exp"].(float64))
	h.clock.Advance(time.Until(time.Unix(exp, 0)) + 2*time.Second)
	if in := ask("billing", "billing-secret"); len(in.JSON) != 1 || in.JSON["active"] != false {
		t.Errorf("expired 2 s ago: %v, want only active:false", in.JSON)
	}
}
