package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestInputSchemaEnforced: an HTTP API tool's input_schema is not only
// advertised but enforced, before any slip is minted; a caller who may not
// call the tool learns nothing of the schema.
func TestInputSchemaEnforced(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"refunded":true}`))
	})
	schema := json.RawMessage(`{"type":"object","properties":{` +
		`"amount":{"type":"number","minimum":0},` +
		`"currency":{"type":"string","enum":["EUR","USD"]}},` +
		`"required":["amount"],"additionalProperties":false}`)
	e := newEnv(t, envOptions{tools: []store.Tool{
		{Name: "refund", Roles: []string{"support"}, HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: schema},
		{Name: "small_refund", Roles: []string{"support"}, When: "context.args.amount <= 50",
			HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: schema},
		// A schema that cannot be compiled (its $ref leaves the
		// document): the tool is not offered, fail closed.
		{Name: "broken", Roles: []string{"support"}, HTTP: &store.HTTPBackend{Method: "POST", URL: api},
			InputSchema: json.RawMessage(`{"type":"object","properties":{"x":{"$ref":"https://schemas.example/x.json"}}}`)},
	}})
	ctx := context.Background()
	carol := e.connect("carol", "acme-assistant", "2025-11-25") // support
	alice := e.connect("alice", "acme-assistant", "2025-11-25") // no support role

	if got := toolNames(t, carol); !slices.Equal(got, []string{"refund", "small_refund"}) {
		t.Errorf("carol sees %v, want refund and small_refund (not the broken one)", got)
	}
	callRaw := func(cs *mcp.ClientSession, tool, args string) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
		if err != nil {
			t.Fatalf("%s %s: %v", tool, args, err)
		}
		return res
	}

	if res := callRaw(carol, "refund", `{"amount":10,"currency":"EUR"}`); res.IsError {
		t.Fatalf("a valid call was refused: %s", text(res))
	}
	for _, tt := range []struct {
		tool, args string
		want       []string // in the answer, besides the tool's name
	}{
		{"refund", `{}`, []string{"required", "amount"}},
		{"refund", `{"amount":"ten"}`, []string{"amount", "type", "number"}},
		{"refund", `{"amount":-1}`, []string{"amount", "minimum"}},
		{"refund", `{"amount":10,"currency":"GBP"}`, []string{"currency", "enum"}},
		{"refund", `{"amount":10,"note":"x"}`, []string{"note"}},
		// The schema is checked before the condition, which could not
		// say what is wrong.
		{"small_refund", `{"amount":"lots"}`, []string{"amount", "type"}},
	} {
		res := callRaw(carol, tt.tool, tt.args)
		got := text(res)
		if !res.IsError || !strings.Contains(got, "input schema of "+tt.tool) {
			t.Errorf("%s %s: %v %q, want an input schema error", tt.tool, tt.args, res.IsError, got)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s %s: %q does not mention %q", tt.tool, tt.args, got, w)
			}
		}
	}
	// A valid call the condition refuses is refused by the condition.
	if res := callRaw(carol, "small_refund", `{"amount":500}`); !res.IsError || text(res) != "Sorry, you don't have access to small_refund." {
		t.Errorf("condition: %v %q", res.IsError, text(res))
	}
	if res := callRaw(carol, "broken", `{"x":1}`); !res.IsError || text(res) != "Sorry, you don't have access to broken." {
		t.Errorf("tool with a broken schema: %v %q", res.IsError, text(res))
	}

	// alice may not call refund: bad arguments or not, the usual refusal,
	// byte for byte that of a tool that does not exist.
	for _, args := range []string{`{}`, `{"amount":"ten"}`, `{"amount":10}`} {
		denied := callRaw(alice, "refund", args)
		unknown := callRaw(alice, "refunD", args)
		d, _ := json.Marshal(denied)
		u, _ := json.Marshal(unknown)
		if !denied.IsError || text(denied) != "Sorry, you don't have access to refund." ||
			strings.Replace(string(u), "refunD", "refund", 1) != string(d) {
			t.Errorf("alice, %s: %s (unknown tool: %s)", args, d, u)
		}
	}

	mu.Lock()
	if !slices.Equal(bodies, []string{`{"amount":10,"currency":"EUR"}`}) {
		t.Errorf("the API received %q", bodies)
	}
	mu.Unlock()

	// The trail: each refusal of carol's is a deny decision by the input
	// schema, with its reason; alice's are the policy's; one slip in all.
	var schemaDenies, slips int
	for _, ev := range e.mem.all() {
		switch ev.Type {
		case audit.SlipMinted:
			slips++
		case audit.ToolDecided:
			if ev.Policy == gateway.PolicyInputSchema {
				schemaDenies++
				if ev.Decision != "deny" || ev.Actor != "carol" || len(ev.Reasons) == 0 || !strings.Contains(ev.Reasons[0], "input schema") || ev.ArgsDigest == "" {
					t.Errorf("input schema decision = %+v", ev)
				}
			}
			if ev.Actor == "alice" && (ev.Decision != "deny" || ev.Policy == gateway.PolicyInputSchema) {
				t.Errorf("alice's decision = %+v", ev)
			}
			if ev.Tool == "broken" && (ev.Decision != "deny" || ev.Policy != gateway.PolicyWithheld || !strings.Contains(strings.Join(ev.Reasons, " "), "input_schema")) {
				t.Errorf("broken tool's decision = %+v", ev)
			}
		}
	}
	if schemaDenies != 6 || slips != 1 {
		t.Errorf("%d input schema denials (want 6), %d slips minted (want 1)", schemaDenies, slips)
	}
}
