package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConditionNumbersAsTheAPIReadsThem: a condition bounding a number
// decides on the value the API then receives. However the caller spells
// the number (1e2, 100.0, -0, digits past float precision), the policy
// reads the canonical JSON, and the API gets those very bytes; a value
// the condition cannot read as a whole number (a string, a fraction, a
// list, null, past 64 bits) is refused, never let through.
func TestConditionNumbersAsTheAPIReadsThem(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "refund", Roles: []string{"support"},
		When: `context.args.amount <= 50`, HTTP: &store.HTTPBackend{Method: "POST", URL: api}}}})
	cs := e.connect("carol", "acme-assistant", "2025-11-25")
	for _, tt := range []struct {
		args string
		want string // the body the API receives; "" for a refusal
	}{
		{`{"amount":50}`, `{"amount":50}`},
		{`{"amount":5e1}`, `{"amount":50}`},
		{`{"amount":-0}`, `{"amount":0}`},
		{`{"amount":50.0000000000000001}`, `{"amount":50}`}, // float64 reads 50, and so does the API
		{`{"amount":1e2}`, ""},
		{`{"amount":100.0}`, ""},
		{`{"amount":1.00e2}`, ""},
		{`{"amount":50.5}`, ""},
		{`{"amount":"50"}`, ""},
		{`{"amount":[50]}`, ""},
		{`{"amount":null}`, ""},
		{`{"amount":{"value":50}}`, ""},
		{`{"amount":true}`, ""},
		{`{}`, ""},
		{`{"amount":9223372036854775808}`, ""},
		{`{"amount":9223372036854776000}`, ""},
		{`{"amount":-1e300}`, ""},
		{`{"amount":1e400}`, ""},
	} {
		mu.Lock()
		before := len(bodies)
		mu.Unlock()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "refund", Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		mu.Lock()
		got := slices.Clone(bodies[before:])
		mu.Unlock()
		switch {
		case tt.want == "" && (!res.IsError || len(got) > 0):
			t.Errorf("%s: allowed; the API received %q", tt.args, got)
		case tt.want != "" && (res.IsError || !slices.Equal(got, []string{tt.want})):
			t.Errorf("%s: refused=%v (%s); the API received %q, want %q", tt.args, res.IsError, text(res), got, tt.want)
		}
	}
}
