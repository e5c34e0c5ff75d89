package identity

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// behindProxy trusts the test server's loopback peer as a proxy, so that a
// request names its client address in X-Forwarded-For.
func behindProxy(p *Provider) {
	p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// Dynamic registrations are counted per IPv6 /64, like failed logins:
// walking through the addresses of one subnet does not reset the limit.
func TestRegisterLimitIPv6ByPrefix(t *testing.T) {
	h := newHarness(t, behindProxy, func(p *Provider) { p.RegistrationsPerIP = 2 })
	doc := `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`
	register := func(from string) tokenResult {
		req, _ := http.NewRequest("POST", h.url("/register"), strings.NewReader(doc))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		return h.do(req)
	}
	for _, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := register(from); r.Status != http.StatusCreated {
			t.Fatalf("registration from %s: %d %v", from, r.Status, r.JSON)
		}
	}
	if r := register("2001:db8:1:2:ffff::3"); r.Status != http.StatusTooManyRequests {
		t.Errorf("a third address of the same /64: %d %v, want 429", r.Status, r.JSON)
	}
	if r := register("2001:db8:1:3::1"); r.Status != http.StatusCreated {
		t.Errorf("another /64: %d %v", r.Status, r.JSON)
	}
}

// Failed client authentications are counted per IPv6 /64: past the
// address limit, the right secret from another address of the subnet is
// refused too.
func TestClientAuthThrottleIPv6ByPrefix(t *testing.T) {
	h := newHarness(t, behindProxy, func(p *Provider) { p.MaxFailuresPerUser, p.MaxFailuresPerIP = 100, 2 })
	cc := url.Values{"grant_type": {"client_credentials"}}
	attempt := func(from, secret string) tokenResult {
		req, _ := http.NewRequest("POST", h.url("/token"), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("billing", secret)
		req.Header.Set("X-Forwarded-For", from)
		return h.do(req)
	}
	for _, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := attempt(from, "guess"); r.Error != "invalid_client" {
			t.Fatalf("wrong secret from %s: %d %v", from, r.Status, r.JSON)
		}
	}
	if r := attempt("2001:db8:1:2:ffff::3", "billing-secret"); r.Error != "invalid_client" {
		t.Errorf("right secret from the same /64 while it is throttled: %d %v, want invalid_client", r.Status, r.JSON)
	}
	if r := attempt("2001:db8:1:3::1", "billing-secret"); r.Status != http.StatusOK {
		t.Errorf("right secret from another /64: %d %v", r.Status, r.JSON)
	}
}
