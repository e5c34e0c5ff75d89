package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestRefusalChecksNoSchema: a call of a tool the caller may not call is
// refused without its arguments being checked against the tool's input
// schema, as for a tool that does not exist: else a refusal that takes
// longer with large arguments tells that the tool exists and has a schema.
// A caller who may call it has them checked. (Counted, not timed.)
func TestRefusalChecksNoSchema(t *testing.T) {
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) { w.Write([]byte(`{}`)) })
	schema := json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}`)
	e := newEnv(t, envOptions{tools: []store.Tool{
		{Name: "refund", Roles: []string{"support"}, HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: schema},
	}})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25") // may not call refund
	carol := e.connect("carol", "acme-assistant", "2025-11-25") // support
	args := map[string]any{"amount": "many"}
	for _, name := range []string{"refund", "refunc"} {
		before := gateway.SchemaChecks()
		res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || text(res) != "Sorry, you don't have access to "+name+"." {
			t.Fatalf("alice calls %s: %v %q", name, err, text(res))
		}
		if n := gateway.SchemaChecks() - before; n != 0 {
			t.Errorf("alice's refused call of %s checked %d schemas, want none", name, n)
		}
	}
	before := gateway.SchemaChecks()
	if res, err := carol.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: args}); err != nil || !res.IsError {
		t.Fatalf("carol's call with a bad amount: %v %+v", err, res)
	}
	if n := gateway.SchemaChecks() - before; n != 1 {
		t.Errorf("carol's call checked %d schemas, want 1", n)
	}
}
