package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/slipverify"
)

// httpToolSecret is the refund API's own client secret at Gatehouse.
const httpToolSecret = "refund-api-secret-of-at-least-32-characters"

// refundAPI is an HTTP API tool as its author would write it: it checks
// each call's permission slip with slipverify (discovery, JWKS and
// introspection with its own service client credentials), then refunds.
// To show that redeeming is single use, it then introspects the same slip
// a second time, which must be refused.
type refundAPI struct {
	v *slipverify.Verifier

	mu       sync.Mutex
	requests []string // every request's headers and body, as received
	slips    []*slipverify.Claims
	replays  []error // the second Verify of each slip
}

func (a *refundAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var seen strings.Builder
	for k, vs := range r.Header {
		fmt.Fprintf(&seen, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	seen.Write(body)
	a.mu.Lock()
	a.requests = append(a.requests, seen.String())
	a.mu.Unlock()

	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c, err := a.v.Verify(r.Context(), token, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	_, replay := a.v.Verify(r.Context(), token, body)
	a.mu.Lock()
	a.slips = append(a.slips, c)
	a.replays = append(a.replays, replay)
	a.mu.Unlock()
	var args struct {
		Amount float64 `json:"amount"`
	}
	json.Unmarshal(body, &args)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"refunded": args.Amount, "for": c.Subject, "by": c.Actor.ClientID})
}

// TestHTTPToolVerifiesSlips: a person calls an HTTP API tool through /mcp
// of a running Gatehouse with the Go MCP SDK; the API verifies and redeems
// the slip with slipverify, a replay of the slip is refused, and the API
// never sees the person's access token.
func TestHTTPToolVerifiesSlips(t *testing.T) {
	api := &refundAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	g := e2e.Start(t, `
tenant: acme
roles:
  - name: support
users:
  - username: carol
    email: carol@acme.example
    password: carol-e2e-password
    roles: [support]
  - username: dave
    email: dave@acme.example
    password: dave-e2e-password
clients:
  - client_id: billing-api
    kind: service
    secret: "`+httpToolSecret+`"
tools:
  - name: refund
    description: Refunds an order
    http: {method: POST, url: "`+srv.URL+`/refund", client_id: billing-api}
    input_schema: {type: object, properties: {amount: {type: number}}, required: [amount]}
    roles: [support]
`, nil)
	api.v = &slipverify.Verifier{
		Issuer:       g.URL,
		Audience:     slipverify.ToolAudience(g.URL, "refund"),
		ClientID:     "billing-api",
		ClientSecret: httpToolSecret,
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	connect := func(user, password string) (*mcp.ClientSession, string) {
		token := mcpToken(t, g, user, password)
		cs := mcpConnect(ctx, t, g, "gatehouse-e2e-http-tool", token)
		t.Cleanup(func() { cs.Close() })
		return cs, token
	}
	carol, carolToken := connect("carol", "carol-e2e-password")

	res, err := carol.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{"amount": 12}})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := res.StructuredContent.(map[string]any)
	if res.IsError || sc["refunded"] != float64(12) || sc["for"] != "carol" {
		t.Fatalf("refund = isError %v %q %v", res.IsError, mcpText(res), sc)
	}

	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.slips) != 1 {
		t.Fatalf("the API verified %d slips", len(api.slips))
	}
	c := api.slips[0]
	at := mcpClaims(t, carolToken)
	if c.Subject != "carol" || c.Actor == nil || c.Actor.ClientID != at["client_id"] || c.Scope != "tool:refund" ||
		len(c.AuthorizationDetails) != 1 || c.AuthorizationDetails[0].Redeemer != "billing-api" {
		t.Errorf("slip claims %+v (the access token's client %v)", c, at["client_id"])
	}
	// Single use: the same slip, introspected again, is refused.
	if !errors.Is(api.replays[0], slipverify.ErrUsed) {
		t.Errorf("second redemption of the slip: %v, want %v", api.replays[0], slipverify.ErrUsed)
	}
	// The API got the slip, never the person's access token.
	for _, r := range api.requests {
		if strings.Contains(r, carolToken) {
			t.Errorf("the API received carol's access token:\n%s", r)
		}
	}
	api.mu.Unlock()

	// The API's redemption, and its refused replay, are in the trail with
	// the login session and the token of carol's call, though the API
	// redeemed the slip by introspection, far from the call: `audit
	// export --session` of her session has them.
	var out, stderr bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(env, []string{"audit", "export", "--type", audit.ToolDecided, "--actor", "carol", "--data", g.Data}); code != 0 {
		t.Fatalf("audit export: exit %d: %s", code, stderr.String())
	}
	var decided audit.Entry
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &decided); err != nil || decided.Event.Session == "" || decided.Event.TokenID == "" {
		t.Fatalf("carol's decision %v: %s", err, out.String())
	}
	out.Reset()
	if code := cli.Run(env, []string{"audit", "export", "--session", decided.Event.Session, "--data", g.Data}); code != 0 {
		t.Fatalf("audit export --session: exit %d: %s", code, stderr.String())
	}
	slipEvents := map[string]audit.Event{}
	for l := range strings.Lines(out.String()) {
		var e audit.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event.SlipID == c.JTI {
			slipEvents[e.Event.Type] = e.Event
		}
	}
	for _, typ := range []string{audit.SlipMinted, audit.SlipRedeemed, audit.SlipReplay} {
		if e, ok := slipEvents[typ]; !ok || e.TokenID != decided.Event.TokenID || e.Correlation != decided.Event.Correlation {
			t.Errorf("%s of the slip in carol's session: %+v (found: %v)", typ, e, ok)
		}
	}

	// Someone the tenant does not allow the tool reaches no API at all.
	dave, _ := connect("dave", "dave-e2e-password")
	res, err = dave.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{"amount": 12}})
	if err != nil || !res.IsError || mcpText(res) != mcpRefusal("refund") {
		t.Errorf("dave's refund = %v, %v", res, err)
	}
	api.mu.Lock()
	if len(api.requests) != 1 {
		t.Errorf("the API got %d requests, want carol's one", len(api.requests))
	}
}
