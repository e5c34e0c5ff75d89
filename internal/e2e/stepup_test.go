package e2e_test

// Step-up authorization with the official Go MCP SDK: a token narrowed to
// one tool (scope tool:<name>) meets 403 insufficient_scope at another tool
// its person may call, and the SDK's OAuth handler asks the authorization
// server for the wider scope the challenge names, then retries.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// stepUpTenant: carol may call both reports through her roles.
const stepUpTenant = `
tenant: acme
roles:
  - name: sales-manager
  - name: hr-manager
users:
  - username: carol
    email: carol@acme.example
    password: carol-e2e-password
    roles: [sales-manager, hr-manager]
clients:
  - client_id: e2e-native
    kind: native
    redirect_uris: ["` + mcpGoRedirect + `"]
tools:
  - name: sales_report
    builtin: sales_report
    roles: [sales-manager]
  - name: payroll_report
    builtin: payroll_report
    roles: [hr-manager]
`

// stepUpOAuth is the Go SDK's OAuth client signing carol in, asking for
// first instead of the scopes it discovers while it discovers none (the
// first authorization: /mcp's 401 names no scope and the resource metadata
// lists none), and for what a challenge names afterwards.
func stepUpOAuth(t *testing.T, first []string, authorizations *int) *auth.AuthorizationCodeHandler {
	t.Helper()
	var mu sync.Mutex
	return mcpGoOAuthWith(t, "carol", "carol-e2e-password", func(cfg *auth.AuthorizationCodeHandlerConfig) {
		cfg.DynamicClientRegistrationConfig.Metadata.ClientName = "Gatehouse e2e step-up (Go MCP SDK)"
		cfg.ScopeFilter = func(discovered []string) []string {
			if len(discovered) == 0 {
				return first
			}
			return discovered
		}
		fetch := cfg.AuthorizationCodeFetcher
		cfg.AuthorizationCodeFetcher = func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			mu.Lock()
			*authorizations++
			mu.Unlock()
			return fetch(ctx, args)
		}
	})
}

// challenges records /mcp's 401 and 403 answers.
type challenges struct {
	mu   sync.Mutex
	seen []string // "403 <WWW-Authenticate>"
}

func (c *challenges) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		c.mu.Lock()
		c.seen = append(c.seen, fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate")))
		c.mu.Unlock()
	}
	return resp, err
}

func (c *challenges) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func stepUpScope(t *testing.T, h *auth.AuthorizationCodeHandler) string {
	t.Helper()
	ts, err := h.TokenSource(t.Context())
	if err != nil || ts == nil {
		t.Fatalf("no token: %v", err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(mcpClaims(t, tok.AccessToken)["scope"])
}

func TestMCPGoSDKStepUp(t *testing.T) {
	g := e2e.Start(t, stepUpTenant, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Tool scopes stay out of both metadata documents: listing them would
	// show the catalogue to anyone.
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), "tool:") || strings.Contains(string(b), "payroll") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}

	authorizations := 0
	h := stepUpOAuth(t, []string{"tool:sales_report"}, &authorizations)
	seen := &challenges{}
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e-step-up", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp", OAuthHandler: h,
		HTTPClient: &http.Client{Transport: seen}}, nil)
	if err != nil {
		t.Fatalf("connect: %v%s", err, mcpWhyRefused(ctx, g, h))
	}
	defer cs.Close()
	if got := stepUpScope(t, h); got != "tool:sales_report" {
		t.Fatalf("first token's scope %q", got)
	}
	tools := func() []string {
		var out []string
		for tool, err := range cs.Tools(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tool.Name)
		}
		slices.Sort(out)
		return out
	}
	if got := tools(); !slices.Equal(got, []string{"sales_report"}) {
		t.Errorf("the narrowed token lists %v", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sales_report", Arguments: json.RawMessage(mcpMonth)})
	if err != nil || res.IsError {
		t.Fatalf("sales_report with the narrowed token: %v %v", err, res)
	}

	// payroll_report: 403 insufficient_scope naming the wider scope, the
	// SDK signs carol in again for it, and the retried call goes through.
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "payroll_report", Arguments: json.RawMessage(mcpMonth)})
	if err != nil {
		t.Fatalf("payroll_report after step-up: %v (challenges %q)", err, seen.all())
	}
	if res.IsError || !strings.Contains(mcpText(res), "Payroll 2025-11") {
		t.Errorf("payroll_report after step-up: %q", mcpText(res))
	}
	var stepUp []string
	for _, c := range seen.all() {
		if strings.HasPrefix(c, "403 ") {
			stepUp = append(stepUp, c)
		}
	}
	if len(stepUp) != 1 || !strings.Contains(stepUp[0], `error="insufficient_scope"`) ||
		!strings.Contains(stepUp[0], `scope="tool:sales_report tool:payroll_report"`) {
		t.Errorf("403 challenges: %q", stepUp)
	}
	if authorizations != 2 {
		t.Errorf("%d authorizations, want 2 (the first, the step-up)", authorizations)
	}
	// A scope is a set (RFC 6749 §3.3): its order is nobody's promise.
	if got := strings.Fields(stepUpScope(t, h)); !sameSet(got, []string{"tool:sales_report", "tool:payroll_report"}) {
		t.Errorf("stepped-up token's scope %q", got)
	}
	if got := tools(); !slices.Equal(got, []string{"payroll_report", "sales_report"}) {
		t.Errorf("the stepped-up token lists %v", got)
	}
	t.Logf("step-up: challenges %q, token scope %q", seen.all(), stepUpScope(t, h))
}

// TestMCPToolScopeTellsNothing: asking for a tool scope tells nothing of
// the catalogue. A well-formed name is granted as asked, whether the tool
// exists or not (the grant only narrows the token: one narrowed to a tool
// the tenant lacks lists and may call nothing); a malformed one is
// refused; an anonymous request gets the login page either way.
func TestMCPToolScopeTellsNothing(t *testing.T) {
	g := e2e.Start(t, stepUpTenant, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	authorizations := 0
	h := stepUpOAuth(t, []string{"tool:nonexistent"}, &authorizations)
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e-step-up", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp", OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect with scope tool:nonexistent: %v", err)
	}
	if got := stepUpScope(t, h); got != "tool:nonexistent" {
		t.Errorf("granted %q, want tool:nonexistent", got)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 0 {
		t.Errorf("a token narrowed to a tool the tenant lacks lists %v (%v)", res, err)
	}
	cs.Close()

	// A malformed tool scope is refused for its spelling (invalid_scope
	// redirected to the client or, since the client registered itself,
	// shown on the refusal page).
	h = stepUpOAuth(t, []string{"tool:a,b"}, &authorizations)
	if _, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp", OAuthHandler: h}, nil); err == nil ||
		!strings.Contains(err.Error(), "invalid_scope") && !strings.Contains(err.Error(), "a tool scope is tool: followed by a tool name") {
		t.Errorf("connect with scope tool:a,b: %v", err)
	}

	// Anonymous: the login page either way.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, scope := range []string{"tool:nonexistent", "tool:payroll_report"} {
		q := fmt.Sprintf("%s/authorize?client_id=e2e-native&response_type=code&redirect_uri=%s&scope=%s&code_challenge=%s&code_challenge_method=S256",
			g.URL, mcpGoRedirect, scope, strings.Repeat("A", 43))
		resp, err := noFollow.Get(q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, g.URL+"/login") {
			t.Errorf("anonymous %s: %d %s", scope, resp.StatusCode, loc)
		}
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
