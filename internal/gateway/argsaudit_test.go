package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/slipverify"
)

// payEnv is a tenant with an HTTP API tool, pay, whose input schema alice
// may be refused by; the trail is the real one.
func payEnv(t *testing.T) (*env, *mcp.ClientSession) {
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"paid":true}`))
	})
	schema := json.RawMessage(`{"type":"object","properties":{` +
		`"card":{"type":"string","maxLength":16,"pattern":"^[0-9]+$"},` +
		`"cvc_hint":{"type":"integer"},"password":{"type":"string","maxLength":4},` +
		`"items":{"type":"array","items":{"$ref":"#/$defs/item"}}},` +
		`"$defs":{"item":{"type":"object","properties":{"sku":{"type":"string","enum":["A","B"]}}}},` +
		`"additionalProperties":false}`)
	e := newEnv(t, envOptions{realAudit: true, tools: []store.Tool{
		{Name: "pay", Roles: []string{"sales-manager"}, HTTP: &store.HTTPBackend{Method: "POST", URL: api}, InputSchema: schema},
		{Name: "sales_report", Builtin: "sales_report", Roles: []string{"sales-manager"}},
	}})
	return e, e.connect("alice", "acme-assistant", "2025-11-25")
}

// decisions returns the tool.decision records of the trail, oldest first.
func decisions(t *testing.T, e *env) []audit.Entry {
	t.Helper()
	page, err := e.audit.(*audit.Log).Query(context.Background(), audit.Filter{Types: []string{audit.ToolDecided}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return page.Entries
}

// TestRefusedArgumentValuesStayOutOfTheTrail: arguments refused by the
// input schema, or for having no canonical form, are refused with what is
// wrong, values and all, to the caller who sent them; the trail says which
// rule failed, and where, but not the values, unless the tenant keeps raw
// arguments (audit.raw_arguments).
func TestRefusedArgumentValuesStayOutOfTheTrail(t *testing.T) {
	e, alice := payEnv(t)
	ctx := context.Background()
	tests := []struct {
		args   string
		secret string   // in the answer, never in the trail's reasons
		policy string   // of the deny
		want   []string // in the trail's reason
	}{
		{`{"card":"CardNo-4111111111111111"}`, "CardNo-4111111111111111", gateway.PolicyInputSchema, []string{"maxLength", "/properties/card"}},
		{`{"card":"41111111111x"}`, "41111111111x", gateway.PolicyInputSchema, []string{"pattern", "/properties/card"}},
		{`{"cvc_hint":"secret-string-arg"}`, "secret-string-arg", gateway.PolicyInputSchema, []string{"type", "/properties/cvc_hint"}},
		{`{"items":[{"sku":"sku-secret-value"}]}`, "sku-secret-value", gateway.PolicyInputSchema, []string{"enum", "/$defs/item/properties/sku"}},
		{`{"CardNo-4111111111111111":1}`, "CardNo-4111111111111111", gateway.PolicyInputSchema, []string{"additionalProperties"}},
		{`{"CardNo-4111111111111111":1,"CardNo-4111111111111111":2}`, "CardNo-4111111111111111", gateway.PolicyBadArguments, []string{"canonical", "offset"}},
		{`{"card":41111111111111111111}`, "41111111111111111111", gateway.PolicyBadArguments, []string{"canonical", "offset"}},
	}
	for _, tt := range tests {
		res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "pay", Arguments: json.RawMessage(tt.args)})
		if err != nil {
			t.Fatalf("%s: %v", tt.args, err)
		}
		if !res.IsError || !strings.Contains(text(res), tt.secret) {
			t.Errorf("%s: the caller was told %v %q, want what is wrong", tt.args, res.IsError, text(res))
		}
	}
	got := decisions(t, e)
	if len(got) != len(tests) {
		t.Fatalf("%d decisions, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		ev := got[i].Event
		reasons := strings.Join(ev.Reasons, "; ")
		if ev.Decision != "deny" || ev.Policy != tt.policy || strings.Contains(string(got[i].Raw), tt.secret) {
			t.Errorf("%s: decision %s", tt.args, got[i].Raw)
		}
		for _, w := range tt.want {
			if !strings.Contains(reasons, w) {
				t.Errorf("%s: reasons %q do not say %q", tt.args, reasons, w)
			}
		}
	}

	// Raw arguments kept: the reasons keep what is wrong, values and all.
	if err := e.st.SetSetting(ctx, "audit.raw_arguments", "true"); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests[:1] {
		call(t, alice, "pay", json.RawMessage(tt.args))
		got := decisions(t, e)
		if last := got[len(got)-1].Event; !strings.Contains(strings.Join(last.Reasons, "; "), tt.secret) {
			t.Errorf("%s, raw arguments kept: reasons %q", tt.args, last.Reasons)
		}
	}
}

// TestRawArgumentsRedacted: raw arguments in the trail (the tenant's
// audit.raw_arguments) have the values of secret-looking keys redacted at
// any depth, as every Detail has; the digest is still that of the
// arguments the decision was made on.
func TestRawArgumentsRedacted(t *testing.T) {
	e, alice := payEnv(t)
	ctx := context.Background()
	if err := e.st.SetSetting(ctx, "audit.raw_arguments", "true"); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	args := `{"month":"2026-10","password":"hunter2","auth":{"api_key":"k-123456","user":"alice"},` +
		`"list":[{"client_secret":"s3cr3t"}],"big":9007199254740991,"html":"<b>&"}`
	call(t, alice, "sales_report", json.RawMessage(args))
	// The input schema refuses a secret: the caller is told, the trail's
	// reason does not quote it.
	if res := call(t, alice, "pay", json.RawMessage(`{"password":"hunter2"}`)); !strings.Contains(text(res), "hunter2") {
		t.Errorf("the caller was told %q", text(res))
	}
	got := decisions(t, e)
	if len(got) != 2 {
		t.Fatalf("%d decisions", len(got))
	}
	if raw := string(got[1].Raw); strings.Contains(raw, "hunter2") || !strings.Contains(raw, "maxLength at /properties/password") {
		t.Errorf("the schema's refusal of a secret: %s", raw)
	}
	raw := string(got[0].Raw)
	for _, secret := range []string{"hunter2", "k-123456", "s3cr3t"} {
		if strings.Contains(raw, secret) {
			t.Errorf("%q in the trail: %s", secret, raw)
		}
	}
	a, _ := got[0].Event.Detail["arguments"].(map[string]any)
	auth, _ := a["auth"].(map[string]any)
	if a["month"] != "2026-10" || a["password"] != audit.Redacted || auth["api_key"] != audit.Redacted || auth["user"] != "alice" ||
		a["html"] != "<b>&" || !strings.Contains(raw, `"big":9007199254740991`) {
		t.Errorf("arguments in the trail: %v", a)
	}
	canonical, err := slipverify.Canonical([]byte(args))
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0].Event.ArgsDigest; d != slipverify.Digest(canonical) {
		t.Errorf("digest %s, want that of the arguments sent", d)
	}
}
