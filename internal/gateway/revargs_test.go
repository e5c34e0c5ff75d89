package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestHTTPGetToolSlipSentOnce: docs/slips.md promises "a slip is never
// sent twice by Gatehouse". An HTTP API tool declared with method GET is
// a request Go's http.Transport deems replayable: when a kept-alive
// connection breaks before any byte of the answer (the API, or a proxy
// in front of it, drops it after reading the request), the transport
// sends the same request, with the same slip, again on a new connection.
// An API that redeems first (as the contract asks) acted on the first
// copy and refuses the second as used (the caller is then told "the tool
// answered 401: permission slip already used"); an API that acts before
// redeeming, or a proxy that answers in its place, acts twice.
func TestHTTPGetToolSlipSentOnce(t *testing.T) {
	var v *slipverify.Verifier
	var mu sync.Mutex
	seen := map[string]int{} // slip → times it reached the API
	acted := 0
	n := 0
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		tok := r.Header.Get("Authorization")
		seen[tok]++
		first := seen[tok] == 1
		n++
		call := n
		mu.Unlock()
		r.Body = ioNopCloser(body)
		if _, _, err := v.VerifyRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		acted++
		mu.Unlock()
		if call == 2 && first {
			// The API acted; its answer is lost on the way (the
			// connection drops before a byte of it).
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"ok": true})
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{
		Name: "lookup", Roles: []string{"support"},
		HTTP: &store.HTTPBackend{Method: "GET", URL: api},
	}}})
	v = &slipverify.Verifier{Issuer: e.issuer, Audience: slipverify.ToolAudience(e.issuer, "lookup"), ClientID: "billing-api", ClientSecret: "x"}
	cs := e.connect("carol", "acme-assistant", "2025-11-25")

	// The first call leaves a kept-alive connection to the API.
	if res := call(t, cs, "lookup", map[string]any{"q": "a"}); res.IsError {
		t.Fatalf("first call: %q", text(res))
	}
	// The second reuses it; the API acts and the connection drops.
	res := call(t, cs, "lookup", map[string]any{"q": "b"})
	mu.Lock()
	defer mu.Unlock()
	for tok, times := range seen {
		if times > 1 {
			t.Errorf("one slip reached the API %d times (%s…)", times, tok[:min(len(tok), 24)])
		}
	}
	// The answer was lost, so the caller is told the call failed either
	// way; what must not happen is the API meeting the slip twice.
	t.Logf("the API acted on %d calls; the caller was told %q", acted, strings.TrimSpace(text(res)))
}
