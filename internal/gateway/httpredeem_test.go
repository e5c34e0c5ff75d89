package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// TestHTTPToolWithoutRedeemer: an HTTP API tool that names no client_id
// gets a slip any service client may redeem, once. The gateway used to
// spend it before sending it, so every call answered "already used".
func TestHTTPToolWithoutRedeemer(t *testing.T) {
	var v *slipverify.Verifier
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		r.Body = ioNopCloser(body)
		c, _, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"for": c.Subject})
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{
		Name: "refund", Roles: []string{"support"},
		HTTP: &store.HTTPBackend{Method: "POST", URL: api},
	}}})
	v = &slipverify.Verifier{Issuer: e.issuer, Audience: slipverify.ToolAudience(e.issuer, "refund"), ClientID: "billing-api", ClientSecret: "x"}
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	res := call(t, cs, "refund", map[string]any{"amount": 12})
	if sc, _ := res.StructuredContent.(map[string]any); res.IsError || sc["for"] != "carol" {
		t.Fatalf("refund = %v %q", res.IsError, text(res))
	}
	types := map[string]int{}
	for _, ev := range e.mem.all() {
		types[ev.Type+"/"+ev.Status]++
	}
	if types["slip.redeemed/ok"] != 1 || types["slip.replay_refused/refused"] != 0 {
		t.Errorf("audit = %v", types)
	}
}
