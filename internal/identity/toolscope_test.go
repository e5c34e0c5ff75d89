package identity

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestToolScopes(t *testing.T) {
	h := newHarness(t)

	// Tool scopes are granted as asked, whatever the catalogue holds.
	r := h.userTokens("scope", "openid offline_access tool:sales_report tool:nonexistent")
	if r.Status != 200 || r.JSON["scope"] != "openid offline_access tool:sales_report tool:nonexistent" ||
		claims(t, r.Access)["scope"] != "openid offline_access tool:sales_report tool:nonexistent" {
		t.Fatalf("granted: %v", r.JSON)
	}

	// Anonymous: the login page, whatever the tool.
	for _, scope := range []string{"openid tool:nonexistent", "openid tool:payroll_report"} {
		resp := h.authorize(h.browser(), authParams("scope", scope))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, h.url("/login")) {
			t.Errorf("anonymous %q: %d %s", scope, resp.StatusCode, loc)
		}
	}

	// A token for another resource carries no tool scope.
	r = h.userTokens("scope", "openid tool:sales_report", "resource", "https://api.example/")
	if r.JSON["scope"] != "openid" {
		t.Errorf("another resource: %v", r.JSON)
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

	// A token exchange is within the subject token and the agent's
	// consent, tools included, where naming no tool means every tool: a
	// consent naming none keeps the subject token's tools; one naming
	// some narrows a subject token naming none to them (it used to give
	// every tool); none in common is refused.
	r = h.userTokens("scope", "openid tool:sales_report")
	consent := func(scopes ...string) {
		t.Helper()
		if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
			Scopes: scopes, GrantedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	consent("openid")
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Status != 200 || x.JSON["scope"] != "openid tool:sales_report" {
		t.Errorf("exchange under a consent to every tool: %v", x.JSON)
	}
	consent("openid", "tool:payroll_report")
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Error != "invalid_scope" {
		t.Errorf("exchange with no tool in common: %v", x.JSON)
	}
	wide := h.userTokens("scope", "openid")
	if x := h.token("agent", "agent-secret", exchangeForm(wide.Access)); x.Status != 200 || x.JSON["scope"] != "openid tool:payroll_report" {
		t.Errorf("exchange of a token for every tool under a consent to one: %v", x.JSON)
	}
	if x := h.token("agent", "agent-secret", exchangeForm(wide.Access, "scope", "openid")); x.Error != "invalid_scope" {
		t.Errorf("exchange asking for every tool under a consent to one: %v", x.JSON)
	}
	consent("openid", "tool:sales_report")
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access)); x.Status != 200 || x.JSON["scope"] != "openid tool:sales_report" {
		t.Errorf("exchange: %v", x.JSON)
	}
	if x := h.token("agent", "agent-secret", exchangeForm(r.Access, "scope", "openid")); x.Error != "invalid_scope" {
		t.Errorf("exchange asking for no tool scope: %v", x.JSON)
	}

	// client_credentials: granted as asked too.
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"tool:sales_report tool:nonexistent"}}
	if x := h.token("billing", "billing-secret", cc); x.Status != 200 || x.JSON["scope"] != "tool:sales_report tool:nonexistent" {
		t.Errorf("client_credentials: %v", x.JSON)
	}

	// At most maxToolScopes at once.
	var many []string
	for i := range maxToolScopes + 1 {
		many = append(many, "tool:t"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	cc.Set("scope", strings.Join(many[:maxToolScopes], " "))
	if x := h.token("billing", "billing-secret", cc); x.Status != 200 || x.JSON["scope"] != cc.Get("scope") {
		t.Errorf("%d tool scopes: %v", maxToolScopes, x.JSON)
	}
	cc.Set("scope", strings.Join(many, " "))
	if x := h.token("billing", "billing-secret", cc); x.Error != "invalid_scope" {
		t.Errorf("too many tool scopes: %v", x.JSON)
	}

	// Tool scopes are not advertised.
	if slices.ContainsFunc(h.p.scopes, isToolScope) {
		t.Errorf("scopes_supported %v", h.p.scopes)
	}
}

// TestToolScopesTellNothingOfTheCatalogue: whoever asks for tool scopes —
// a signed-in person, through a first-party client or through the consent
// page of another, or a service client — gets the same answer for a tool
// the tenant has (payroll_report, which alice may not call) as for one it
// does not have, so that the scope is no oracle of the catalogue. A
// malformed tool scope is refused alike, signed in or not.
func TestToolScopesTellNothingOfTheCatalogue(t *testing.T) {
	h := newHarness(t)
	const known, unknown = "payroll_report", "no_such_tool"
	// same reports whether a and b are equal once each one's tool name is
	// replaced by the same placeholder.
	same := func(a, b string) bool {
		return strings.ReplaceAll(a, known, "TOOL") == strings.ReplaceAll(b, unknown, "TOOL")
	}

	// The authorization code flow of a first-party client: a code either
	// way, and a token narrowed to the tool asked for.
	b := h.signedIn("alice")
	for _, tool := range []string{known, unknown} {
		scope := "openid tool:" + tool
		q := redirectQuery(t, h.authorize(b, authParams("scope", scope)), webRedirect)
		if q.Get("error") != "" || q.Get("code") == "" {
			t.Fatalf("authorize %s: %v", scope, q)
		}
		r := h.redeem(q.Get("code"))
		if r.Status != 200 || r.JSON["scope"] != scope || claims(t, r.Access)["scope"] != scope {
			t.Errorf("token for %s: %d %v", scope, r.Status, r.JSON)
		}
	}

	// The consent page of a client that is not first-party: the same page,
	// naming the tool asked for.
	var pages []string
	for _, tool := range []string{known, unknown} {
		resp := h.authorize(b, nativeParams("scope", "openid tool:"+tool))
		html := body(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(html, tool) {
			t.Fatalf("consent page for %s: %d %s", tool, resp.StatusCode, html)
		}
		pages = append(pages, html)
	}
	if !same(pages[0], pages[1]) {
		t.Errorf("the consent pages differ:\n%s\n---\n%s", pages[0], pages[1])
	}

	// client_credentials: the same answer but for the name.
	var answers []string
	for _, tool := range []string{known, unknown} {
		x := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"tool:" + tool}})
		if x.Status != 200 || x.JSON["scope"] != "tool:"+tool {
			t.Fatalf("client_credentials tool:%s: %d %v", tool, x.Status, x.JSON)
		}
		delete(x.JSON, "access_token")
		j, _ := jsonMarshal(x.JSON)
		answers = append(answers, string(j))
	}
	if !same(answers[0], answers[1]) {
		t.Errorf("client_credentials answers differ: %s, %s", answers[0], answers[1])
	}

	// Malformed tool scopes: refused, by their spelling alone, with one
	// description, whoever asks.
	descriptions := map[string]bool{}
	for _, scope := range []string{"tool:", "tool:a,b", "tool:a/b", "tool:" + strings.Repeat("a", 65)} {
		for who, br := range map[string]*http.Client{"anonymous": h.browser(), "alice": b} {
			q := redirectQuery(t, h.authorize(br, authParams("scope", "openid tool:sales_report "+scope)), webRedirect)
			if q.Get("error") != "invalid_scope" || q.Get("code") != "" {
				t.Errorf("%s asking for %q: %v", who, scope, q)
			}
			descriptions[q.Get("error_description")] = true
		}
		x := h.token("billing", "billing-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
		if x.Error != "invalid_scope" {
			t.Errorf("client_credentials %q: %v", scope, x.JSON)
		}
		descriptions[x.JSON["error_description"].(string)] = true
	}
	if len(descriptions) != 1 {
		t.Errorf("malformed tool scopes are described %d ways: %v", len(descriptions), descriptions)
	}
}
