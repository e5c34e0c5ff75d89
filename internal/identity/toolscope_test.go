package identity

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// toolCatalogue is a ToolExists over two tools that counts its lookups.
type toolCatalogue struct {
	mu     sync.Mutex
	looked []string
	fail   bool
}

func (c *toolCatalogue) exists(_ context.Context, name string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.looked = append(c.looked, name)
	if c.fail {
		return false, errors.New("the store is down")
	}
	return name == "sales_report" || name == "payroll_report", nil
}

func (c *toolCatalogue) lookups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.looked)
}

func TestToolScopes(t *testing.T) {
	cat := &toolCatalogue{}
	h := newHarness(t, func(p *Provider) { p.ToolExists = cat.exists })

	// A tool of the catalogue is granted; one that is not is left out.
	r := h.userTokens("scope", "openid offline_access tool:sales_report tool:nonexistent")
	if r.Status != 200 || r.JSON["scope"] != "openid offline_access tool:sales_report" || claims(t, r.Access)["scope"] != "openid offline_access tool:sales_report" {
		t.Fatalf("granted: %v", r.JSON)
	}

	// Only tools that do not exist: refused, not an unnarrowed token.
	b := h.signedIn("alice")
	q := redirectQuery(t, h.authorize(b, authParams("scope", "openid tool:nonexistent")), webRedirect)
	if q.Get("error") != "invalid_scope" || q.Get("code") != "" {
		t.Errorf("only a tool that does not exist: %v", q)
	}

	// Anonymous: the same login page whether the tool exists or not, and
	// nothing looked up.
	before := len(cat.lookups())
	for _, scope := range []string{"openid tool:nonexistent", "openid tool:payroll_report"} {
		resp := h.authorize(h.browser(), authParams("scope", scope))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/login")) {
			t.Errorf("anonymous %q: %d %s", scope, resp.StatusCode, loc)
		}
	}
	if got := cat.lookups()[before:]; len(got) != 0 {
		t.Errorf("anonymous requests looked up %v", got)
	}

	// A token for another resource carries no tool scope, nor looks one up.
	before = len(cat.lookups())
	r = h.userTokens("scope", "openid tool:sales_report", "resource", "https://api.example/")
	if r.JSON["scope"] != "openid" || len(cat.lookups()) != before {
		t.Errorf("another resource: %v, lookups %v", r.JSON, cat.lookups()[before:])
	}
	// Nor does one narrowed to another resource at the token endpoint.
	v := authParams("scope", "openid tool:sales_report")
	v["resource"] = []string{h.srv.URL + "/mcp", "https://api.example/"}
	code := h.code(h.signedIn("alice"), v)
	if x := h.redeem(code, "resource", "https://api.example/"); x.Status != 200 || x.JSON["scope"] != "openid" {
		t.Errorf("narrowed to another resource: %v", x.JSON)
	}

	// Refresh and token exchange keep a tool-narrowed grant narrowed.
	r = h.userTokens("scope", "openid offline_access tool:sales_report tool:payroll_report")
	if x := refresh(h, r.Refresh, "scope", "openid"); x.Error != "invalid_scope" {
		t.Errorf("refresh dropping every tool scope: %v", x.JSON)
	}
	r = h.userTokens("scope", "openid offline_access tool:sales_report tool:payroll_report")
	if x := refresh(h, r.Refresh, "scope", "openid tool:payroll_report"); x.Status != 200 || x.JSON["scope"] != "openid tool:payroll_report" {
		t.Errorf("refresh narrowed to one tool: %v", x.JSON)
	}

	// A token exchange keeps a narrowed subject token narrowed, even
	// where the agent's consent does not cover its tool scopes.
	r = h.userTokens("scope", "openid tool:sales_report")
	consent := func(scopes ...string) {
		t.Helper()
		if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
			Scopes: scopes, GrantedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	consent("openid")
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Error != "invalid_scope" {
		t.Errorf("exchange losing the tool scope to the consent: %v", x.JSON)
	}
	consent("openid", "tool:sales_report")
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Status != 200 || x.JSON["scope"] != "openid tool:sales_report" {
		t.Errorf("exchange: %v", x.JSON)
	}
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access, "scope", "openid")); x.Error != "invalid_scope" {
		t.Errorf("exchange asking for no tool scope: %v", x.JSON)
	}

	// client_credentials: looked up too, the client being authenticated.
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"tool:sales_report tool:nonexistent"}}
	if x := h.token("billing", "billing-secret", cc); x.Status != 200 || x.JSON["scope"] != "tool:sales_report" {
		t.Errorf("client_credentials: %v", x.JSON)
	}
	cc.Set("scope", "tool:nonexistent")
	if x := h.token("billing", "billing-secret", cc); x.Error != "invalid_scope" {
		t.Errorf("client_credentials, no such tool: %v", x.JSON)
	}

	// Too many tool scopes at once: refused before any lookup.
	var many []string
	for i := range maxToolScopes + 1 {
		many = append(many, "tool:t"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	before = len(cat.lookups())
	cc.Set("scope", strings.Join(many, " "))
	if x := h.token("billing", "billing-secret", cc); x.Error != "invalid_scope" || len(cat.lookups()) != before {
		t.Errorf("too many tool scopes: %v, %d lookups", x.JSON, len(cat.lookups())-before)
	}

	// A store that cannot answer is a server error, not a wider token.
	cat.mu.Lock()
	cat.fail = true
	cat.mu.Unlock()
	q = redirectQuery(t, h.authorize(h.signedIn("alice"), authParams("scope", "openid tool:sales_report")), webRedirect)
	if q.Get("error") != "server_error" {
		t.Errorf("failing lookup: %v", q)
	}

	// Tool scopes are not advertised.
	if slices.ContainsFunc(h.p.scopes, isToolScope) {
		t.Errorf("scopes_supported %v", h.p.scopes)
	}
}
