package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// A disabled agent is governed like a disabled user: the tokens it already
// holds — acting for a person, or for itself — are refused at /mcp once the
// gateway sees the change, and work again when it is enabled.
func TestDisabledAgentRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	forAlice := "Bearer " + e.token("alice", "acme-assistant")
	itself := "Bearer " + e.token("acme-assistant", "acme-assistant")
	for _, tok := range []string{forAlice, itself} {
		if resp := post(t, e.resource, map[string]string{"Authorization": tok}); resp.StatusCode != 200 {
			t.Fatalf("before: %d", resp.StatusCode)
		}
	}
	setDisabled := func(v bool) {
		t.Helper()
		if err := e.st.Clients().Update(context.Background(), "acme-assistant", func(c store.Client) (store.Client, error) {
			c.Disabled = v
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	for _, tok := range []string{forAlice, itself} {
		waitFor(t, "the agent disabled", func() bool {
			resp := post(t, e.resource, map[string]string{"Authorization": tok})
			return resp.StatusCode == 401 && strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
		})
	}
	// Another agent is not affected.
	if resp := post(t, e.resource, map[string]string{"Authorization": "Bearer " + e.token("alice", "payroll-bot")}); resp.StatusCode != 200 {
		t.Errorf("another agent: %d", resp.StatusCode)
	}
	setDisabled(false)
	waitFor(t, "the agent enabled", func() bool {
		return post(t, e.resource, map[string]string{"Authorization": forAlice}).StatusCode == 200
	})
}

// Every client of a token's delegation chain (RFC 8693 act) narrows what
// the token may call, and stands as the token's own client must: when an
// earlier agent of the chain is disabled, or removed (its cap would no
// longer narrow the call), the token is refused.
func TestDelegationChainStands(t *testing.T) {
	e := newEnv(t, envOptions{})
	// alice's token of payroll-bot (capped to payroll_report), exchanged
	// by acme-assistant (no cap of its own).
	tok := "Bearer " + e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
		c.Act = &accesstoken.Actor{Sub: "acme-assistant", ClientID: "acme-assistant",
			Act: &accesstoken.Actor{Sub: "payroll-bot", ClientID: "payroll-bot"}}
	})
	cs := e.connectToken(strings.TrimPrefix(tok, "Bearer "), "", nil)
	if got := toolNames(t, cs); len(got) != 0 {
		t.Errorf("through payroll-bot's cap alice sees %v, want none (she may not call payroll_report)", got)
	}
	if r := call(t, cs, "sales_report", map[string]any{}); !r.IsError {
		t.Errorf("sales_report through payroll-bot's cap: %q", text(r))
	}
	update := func(fn func(c store.Client) (store.Client, error)) {
		t.Helper()
		if err := e.st.Clients().Update(context.Background(), "payroll-bot", fn); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string) {
		t.Helper()
		waitFor(t, what, func() bool {
			resp := post(t, e.resource, map[string]string{"Authorization": tok})
			return resp.StatusCode == 401 && strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
		})
	}
	update(func(c store.Client) (store.Client, error) { c.Disabled = true; return c, nil })
	refused("payroll-bot disabled")
	update(func(c store.Client) (store.Client, error) { c.Disabled = false; return c, nil })
	waitFor(t, "payroll-bot enabled", func() bool {
		return post(t, e.resource, map[string]string{"Authorization": tok}).StatusCode == 200
	})
	if err := e.st.Clients().Delete(context.Background(), "payroll-bot"); err != nil {
		t.Fatal(err)
	}
	refused("payroll-bot removed")
}
