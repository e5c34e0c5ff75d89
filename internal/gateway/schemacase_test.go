package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSchemaPropertyInAnotherCase: an HTTP API tool's input_schema bounds
// an optional property (amount ≤ 50, a currency of a list). JSON Schema
// matches property names exactly, so {"Amount": 5000} passed the schema
// as an unknown member, which the schema allows when it does not close
// the object; but the API, decoding its body with encoding/json (as a Go
// tool does with what slipverify.VerifyRequest returns), matches field
// names case-insensitively and read amount=5000. A key that is not a
// property of the schema but folds to one is refused, at any depth, before
// any slip is minted; the API receives nothing.
func TestSchemaPropertyInAnotherCase(t *testing.T) {
	var mu sync.Mutex
	var got []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct {
			Amount   float64 `json:"amount"`
			Currency string  `json:"currency"`
			Items    []struct {
				SKU string `json:"sku"`
			} `json:"items"`
		}
		json.Unmarshal(body, &in)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(in)
	})
	schema := json.RawMessage(`{"type":"object","properties":{` +
		`"amount":{"type":"number","maximum":50},` +
		`"currency":{"type":"string","enum":["EUR","USD"]},` +
		`"items":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string","pattern":"^[A-Z]{3}$"}}}}}}`)
	e := newEnv(t, envOptions{tools: []store.Tool{
		{Name: "refund", Roles: []string{"support"}, HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: schema},
	}})
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	for _, tt := range []struct {
		args  string
		allow bool
	}{
		{`{"amount":10,"currency":"EUR"}`, true},
		{`{"amount":10,"note":"any other member"}`, true},
		{`{"amount":5000}`, false},
		{`{"Amount":5000}`, false},                                  // the API reads amount=5000
		{`{"amount":10,"CURRENCY":"GBP"}`, false},                   // currency=GBP
		{`{"amount":10,"items":[{"SKU":"../../x"}]}`, false},        // sku at depth
		{"{\"amount\":10,\"items\":[{\"\u017fku\":\"x\"}]}", false}, // a long s folds to s
	} {
		mu.Lock()
		before := len(got)
		mu.Unlock()
		res, err := carol.CallTool(t.Context(), &mcp.CallToolParams{Name: "refund", Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		mu.Lock()
		sent := got[before:]
		mu.Unlock()
		if res.IsError == tt.allow {
			t.Errorf("%s: allowed=%v, want %v; the API received %q and answered %q", tt.args, !res.IsError, tt.allow, sent, text(res))
		}
		if !tt.allow && !strings.Contains(text(res), "input schema of refund") {
			t.Errorf("%s: answer %q, want an input schema error", tt.args, text(res))
		}
	}
}
