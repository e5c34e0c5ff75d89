package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
)

// TestClientLockoutFromElsewhere: someone who knows a client ID and guesses
// its secret from their own address is stopped there — even the right
// secret is refused from it, and further guesses cost no argon2 — but
// cannot lock the client out: the right secret from the client's own
// address still gets tokens and introspects (permission slips go on).
func TestClientLockoutFromElsewhere(t *testing.T) {
	h := newHarness(t, behindProxy) // the default limits: 10 per client and address
	const attacker, service = "203.0.113.66", "198.51.100.10"
	send := func(from, path, secret string, f url.Values) tokenResult {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		req.SetBasicAuth("billing", secret)
		return h.do(req)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	for i := range 10 {
		path := []string{"/token", "/introspect"}[i%2]
		if r := send(attacker, path, "guess", url.Values{"grant_type": {"client_credentials"}, "token": {"t"}}); r.Error != "invalid_client" {
			t.Fatalf("guess %d at %s: %d %v", i, path, r.Status, r.JSON)
		}
	}
	// The guesser's address is throttled: the right secret is refused
	// from it, and guesses no longer reach argon2.
	if r := send(attacker, "/token", "billing-secret", cc); r.Error != "invalid_client" {
		t.Errorf("the right secret from the guessing address: %d %v, want invalid_client", r.Status, r.JSON)
	}
	before := password.Computed()
	for range 5 {
		send(attacker, "/token", "another guess", cc)
	}
	if n := password.Computed() - before; n != 0 {
		t.Errorf("throttled guesses ran argon2 %d times", n)
	}
	// The client itself, from its own address, is not locked out.
	tok := send(service, "/token", "billing-secret", cc)
	if tok.Status != http.StatusOK {
		t.Fatalf("the right secret from the client's address: %d %v", tok.Status, tok.JSON)
	}
	if in := send(service, "/introspect", "billing-secret", url.Values{"token": {tok.Access}}); in.Status != http.StatusOK || in.JSON["active"] != true {
		t.Errorf("introspection from the client's address: %d %v", in.Status, in.JSON)
	}
	// The audit is as before: each failure up to the limit, the one that
	// reaches it as throttled, none after.
	if n := countEvents(h, audit.ClientAuthFailed); n != 10 {
		t.Errorf("%d client.auth_failed events, want 10", n)
	}
	ev, ok := h.audit.last(audit.ClientAuthFailed)
	if !ok || ev.Agent != "billing" || ev.Detail["reason"] != "throttled" || ev.Detail["cause"] != "bad_secret" || ev.RemoteAddr != attacker {
		t.Errorf("throttling audited as %+v", ev)
	}
}
