package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/e2e"
)

// traceAgentTenant adds an agent with a secret to adminTenant: it acts
// for alice (token exchange) and for itself (client_credentials).
var traceAgentTenant = strings.Replace(adminTenant, "clients:\n", `clients:
  - client_id: acme-agent
    kind: agent
    first_party: true
    secret: "agent-secret-0123456789abcdef0123"
`, 1)

// traceAgentToken asks /token, as acme-agent, for form's token to /mcp.
func traceAgentToken(t *testing.T, g *e2e.Gatehouse, form url.Values) string {
	t.Helper()
	form.Set("resource", g.URL+"/mcp")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", g.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("acme-agent", "agent-secret-0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v %s", form.Get("grant_type"), resp.StatusCode, err, body.Error)
	}
	return body.AccessToken
}

// traceCall calls sales_report with token and returns the correlation of
// the call's decision, which agent made it.
func traceCall(t *testing.T, g *e2e.Gatehouse, root, token string) string {
	t.Helper()
	cs := mcpConnect(t.Context(), t, g, "gatehouse-e2e-trace-agent", token)
	defer cs.Close()
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "sales_report", Arguments: json.RawMessage(mcpMonth)}); err != nil {
		t.Fatal(err)
	}
	_, page, body := adminGet(t, g, root, "type="+audit.ToolDecided+"&agent=acme-agent&limit=1000")
	if len(page.Entries) == 0 {
		t.Fatalf("no decision of acme-agent: %s", body)
	}
	return page.Entries[len(page.Entries)-1].Event.Correlation
}

func traceTypes(t *testing.T, g *e2e.Gatehouse, root, corr string) []string {
	t.Helper()
	var trace adminPage
	if status, body := adminDo(t, g, "GET", root, "/admin/api/audit/trace?correlation="+corr, &trace); status != 200 {
		t.Fatalf("trace: %d %s", status, body)
	}
	var types []string
	for _, e := range trace.Entries {
		types = append(types, e.Event.Type)
	}
	return types
}

// TestAuditTraceOfAnAgentsCalls: the trace of a call an agent made links
// it to the token that started it, whether the agent acts for a person
// (token exchange: her sign-in, the exchange, the call) or for itself
// (client_credentials: the token's issuance, the call).
func TestAuditTraceOfAnAgentsCalls(t *testing.T) {
	g := e2e.Start(t, traceAgentTenant, nil)
	root := adminToken(t, g, "root", "root-e2e-password")

	alice := mcpToken(t, g, "alice", "alice-e2e-password")
	acting := traceAgentToken(t, g, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {alice}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}})
	corr := traceCall(t, g, root, acting)
	want := []string{audit.LoginSucceeded, audit.TokenExchanged, audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed, audit.ToolResult}
	if got := traceTypes(t, g, root, corr); !slices.Equal(got, want) {
		t.Errorf("trace of the agent's call for alice: %v, want %v", got, want)
	}

	own := traceAgentToken(t, g, url.Values{"grant_type": {"client_credentials"}})
	corr = traceCall(t, g, root, own)
	// No person, no sign-in: the token's issuance, then the call (which
	// the agent, holding no role, is refused).
	if got := traceTypes(t, g, root, corr); len(got) < 2 || got[0] != audit.TokenIssued || got[1] != audit.ToolDecided {
		t.Errorf("trace of the agent's call for itself: %v, want %s then %s", got, audit.TokenIssued, audit.ToolDecided)
	}
}
