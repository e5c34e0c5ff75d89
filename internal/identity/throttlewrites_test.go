package identity

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// An address past one of its limits is refused, and, as a flood of failed
// sign-ins is (checkPassword: "past its limit an address writes
// nothing"), its further requests must not write the database either:
// each write of a counter is a commit, and on PostgreSQL all of an
// address's requests update one row, each holding a connection of the
// pool while it waits for that row's lock. Registration, client ID
// metadata fetches and failed client authentications counted every
// request, refused or not, for as long as anyone sent them.
func TestThrottledAddressWritesNoCounters(t *testing.T) {
	const limit, requests = 2, 25
	h := newHarness(t, func(p *Provider) {
		p.RegistrationsPerIP = limit
		p.MetadataFetchesPerIP = limit
		p.MaxFailuresPerIP = limit
	})
	ip := netip.MustParseAddr("127.0.0.1")
	counted := func(key string) int {
		n, err := h.db.Identity().Attempts(t.Context(), key, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range requests {
		h.register(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	}
	for i := range requests {
		id := fmt.Sprintf("https://127.0.0.1:1/c/%d.json", i)
		resp, err := http.Get(h.url("/authorize") + "?" + metadataAuthz(id).Encode())
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
	}
	for range requests {
		req, _ := http.NewRequest(http.MethodPost, h.url("/token"), strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"no-such-client"}, "client_secret": {"guess"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.do(req)
	}
	for _, key := range []string{"register:ip:" + throttleKey(ip), "cimd:ip:" + throttleKey(ip), clientIPKey(ip)} {
		if n := counted(key); n > limit+1 {
			t.Errorf("%s: %d requests from one address wrote its counter %d times, want at most %d (the limit, "+
				"and the request that reached it)", key, requests, n, limit+1)
		}
	}
}
