package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The client cache saves a read per request for ClientCacheTTL (a
// second): an entry older than that is never used again. It must not keep
// them: it held every client read since the start, up to 10,000 records,
// and a registered client's record is up to 64 KiB (its redirect URIs),
// so anyone could register clients and name each once at /authorize to
// keep over 600 MB of them in memory.
func TestClientCacheDropsStaleEntries(t *testing.T) {
	h := newHarness(t, func(p *Provider) {
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	var uris []string
	for i := range 20 {
		u := fmt.Sprintf("https://r%d.example/", i)
		uris = append(uris, u+strings.Repeat("p", 2000-len(u)))
	}
	doc, _ := json.Marshal(map[string]any{"redirect_uris": uris, "token_endpoint_auth_method": "none"})
	named := func(n int, from string) {
		for i := range n {
			req, _ := http.NewRequest(http.MethodPost, h.url("/register"), strings.NewReader(string(doc)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("%s%d", from, i+1))
			r := h.do(req)
			if r.Status != http.StatusCreated {
				t.Fatalf("register: %d %v", r.Status, r.JSON)
			}
			v := authParams("client_id", r.JSON["client_id"].(string), "redirect_uri", uris[0])
			resp, err := http.Get(h.url("/authorize") + "?" + v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body(t, resp)
		}
	}
	const rounds, perRound = 10, 30
	for round := range rounds {
		named(perRound, fmt.Sprintf("198.51.%d.", round))
		h.clock.Advance(time.Minute)
	}
	h.p.clients.mu.RLock()
	n, size := len(h.p.clients.m), 0
	for _, e := range h.p.clients.m {
		for _, u := range e.c.RedirectURIs {
			size += len(u)
		}
	}
	h.p.clients.mu.RUnlock()
	t.Logf("the client cache holds %d records", n)
	if n > minClientSweep+perRound {
		t.Errorf("the client cache (TTL 1 s) holds %d records (%d bytes of redirect URIs) after %d rounds a minute apart "+
			"of %d clients each: it keeps what it will never use", n, size, rounds, perRound)
	}
}
