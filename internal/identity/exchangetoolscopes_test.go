package identity

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestExchangeChecksToolScopes: an exchange that narrows a token reaching
// every tool to some tools asks for tool scopes as an authorization
// request does, and is held to the same bounds: at most maxToolScopes of
// them, each naming a tool well. Before, the exchange took any number
// (a token, and its audit record, as large as the request body) and
// names no tool could have.
func TestExchangeChecksToolScopes(t *testing.T) {
	h := newHarness(t)
	user := h.userTokens()
	if err := h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: "agent",
		Scopes: []string{"openid", "profile"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if r := h.token("agent", "agent-secret", exchangeForm(user.Access, "scope", "openid tool:sales_report")); r.Status != 200 {
		t.Fatalf("narrowed to one tool: %d %v", r.Status, r.JSON)
	}
	var many []string
	for i := range maxToolScopes + 1 {
		many = append(many, fmt.Sprintf("tool:t%d", i))
	}
	for name, scope := range map[string]string{
		"too many tools":  strings.Join(many, " "),
		"a bad tool name": "tool:" + strings.Repeat("x", 65),
	} {
		if r := h.token("agent", "agent-secret", exchangeForm(user.Access, "scope", scope)); r.Status != 400 || r.Error != "invalid_scope" {
			t.Errorf("%s: %d %v, want invalid_scope", name, r.Status, r.JSON)
		}
	}
}
