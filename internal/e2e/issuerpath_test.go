package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/e2e"
	"github.com/gatehouse/gatehouse/slipverify"
)

// issuerPath is the path of the issuer of these tests, as a multi-tenant
// deployment behind a reverse proxy gives each tenant.
const issuerPath = "/tenants/acme"

// wellKnown is the well-known URL of name for id (a resource or an
// issuer): the prefix at the host's root, before id's path (RFC 8414 §3,
// RFC 9728 §3.1).
func wellKnown(t *testing.T, id, name string) string {
	t.Helper()
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/.well-known/" + name + strings.TrimSuffix(u.Path, "/")
	return u.String()
}

// plainDo sends a request with no body, and a bearer token when given, and
// follows no redirect.
func plainDo(t *testing.T, method, target, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestIssuerWithAPath: under an issuer with a path (a tenant behind a
// reverse proxy that routes that path to it), every address the metadata
// documents announce answers there, and so do DESIGN.md's URLs: /healthz,
// /readyz and /metrics under the issuer as /mcp is, not only at the host's
// root, where the proxy does not route the tenant's requests (and where,
// with several tenants on one host, they would not be this tenant's).
func TestIssuerWithAPath(t *testing.T) {
	g := e2e.Start(t, adminTenant, &e2e.Options{IssuerPath: issuerPath})
	if !strings.HasSuffix(g.URL, issuerPath) {
		t.Fatalf("issuer %s", g.URL)
	}
	var oidc, as map[string]any
	getJSON(t, g.URL+"/.well-known/openid-configuration", &oidc)
	getJSON(t, wellKnown(t, g.URL, "oauth-authorization-server"), &as)
	if oidc["issuer"] != g.URL || as["issuer"] != g.URL {
		t.Fatalf("issuers %v %v", oidc["issuer"], as["issuer"])
	}
	for k, method := range map[string]string{
		"authorization_endpoint": "GET", "token_endpoint": "POST", "userinfo_endpoint": "GET",
		"jwks_uri": "GET", "revocation_endpoint": "POST", "introspection_endpoint": "POST",
		"end_session_endpoint": "GET", "registration_endpoint": "POST",
	} {
		u, _ := oidc[k].(string)
		if !strings.HasPrefix(u, g.URL+"/") {
			t.Errorf("%s = %q, not under the issuer", k, u)
			continue
		}
		if status, _, body := plainDo(t, method, u, ""); status == 404 || status == 405 {
			t.Errorf("%s %s (%s): %d %.200s", method, u, k, status, body)
		}
	}

	// /mcp, its challenge and its RFC 9728 metadata; a token for it, asked
	// for by the Go SDK's client from the challenge.
	status, h, _ := plainDo(t, "POST", g.URL+"/mcp", "")
	meta := wellKnown(t, g.URL+"/mcp", "oauth-protected-resource")
	if status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `resource_metadata="`+meta+`"`) {
		t.Errorf("/mcp: %d %q", status, h.Get("WWW-Authenticate"))
	}
	var prm map[string]any
	getJSON(t, meta, &prm)
	if prm["resource"] != g.URL+"/mcp" {
		t.Errorf("/mcp metadata %v", prm)
	}
	tok := mcpToken(t, g, "alice", "alice-e2e-password")
	if aud := mcpClaims(t, tok)["aud"]; aud != g.URL+"/mcp" {
		t.Errorf("a token for /mcp names the audience %v", aud)
	}

	// A probe of the process itself still finds them at the host's root.
	for _, at := range []string{g.URL, strings.TrimSuffix(g.URL, issuerPath)} {
		for _, p := range []string{"/healthz", "/readyz"} {
			if status, _, body := plainDo(t, "GET", at+p, ""); status != 200 {
				t.Errorf("GET %s: %d %.200s", at+p, status, body)
			}
		}
	}
	status, h, _ = plainDo(t, "GET", g.URL+"/metrics", "")
	if status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `resource_metadata="`+wellKnown(t, g.URL+"/admin/api", "oauth-protected-resource")+`"`) {
		t.Errorf("GET %s/metrics without a token: %d %q", g.URL, status, h.Get("WWW-Authenticate"))
	}
	root := adminToken(t, g, "root", "root-e2e-password")
	if status, _, body := plainDo(t, "GET", g.URL+"/metrics", root); status != 200 || !strings.Contains(body, "gatehouse_audit_records_total") {
		t.Errorf("GET %s/metrics as an admin: %d %.200s", g.URL, status, body)
	}
	if status, _, body := plainDo(t, "GET", g.URL+"/admin/api/audit?limit=1", root); status != 200 {
		t.Errorf("admin API: %d %.200s", status, body)
	}
}

// TestHTTPToolUnderAnIssuerWithAPath: an HTTP API tool verifies and
// redeems its slips with slipverify under an issuer with a path: the
// verifier finds the issuer's RFC 8414 metadata where it is served, the
// well-known prefix inserted before the issuer's path (RFC 8414 §3.1).
// Before, it appended the prefix to the issuer, where nothing is served,
// and refused every slip as its issuer unavailable.
func TestHTTPToolUnderAnIssuerWithAPath(t *testing.T) {
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
`, &e2e.Options{IssuerPath: issuerPath})
	api.v = &slipverify.Verifier{Issuer: g.URL, Audience: slipverify.ToolAudience(g.URL, "refund"),
		ClientID: "billing-api", ClientSecret: httpToolSecret}
	ctx := t.Context()
	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-http-tool", mcpToken(t, g, "carol", "carol-e2e-password"))
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{"amount": 12}})
	if err != nil {
		t.Fatal(err)
	}
	if sc, _ := res.StructuredContent.(map[string]any); res.IsError || sc["refunded"] != float64(12) {
		t.Fatalf("refund = isError %v %q %v", res.IsError, mcpText(res), sc)
	}
}
