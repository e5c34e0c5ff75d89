package gateway_test

import (
	"context"
	"strings"
	"testing"

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
