package gateway_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// One caller keeps at most MaxSessionsPerCaller sessions: opening one
// more closes the one it used least recently, which the client is then
// told is gone, while its other sessions and another caller's go on.
func TestSessionsPerCallerAreBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	const version = "2025-11-25" // a revision with sessions
	carol := e.connect("carol", "acme-assistant", version)
	tok := e.token("alice", "acme-assistant")
	var alice []*mcp.ClientSession
	for range gateway.MaxSessionsPerCaller {
		alice = append(alice, e.connectToken(tok, version, nil))
	}
	// Each of them works; the first is used last.
	for i, cs := range append(alice[1:], alice[0]) {
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			t.Fatalf("session %d of %d: %v", i, len(alice), err)
		}
	}
	// One more: the least recently used (the second) is closed.
	newest := e.connectToken(tok, version, nil)
	if _, err := newest.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("the newest session: %v", err)
	}
	if _, err := alice[1].ListTools(context.Background(), nil); err == nil {
		t.Error("the least recently used session still works beyond the bound")
	}
	for i, cs := range alice {
		if _, err := cs.ListTools(context.Background(), nil); err != nil && i != 1 {
			t.Errorf("session %d: %v", i, err)
		}
	}
	if got := toolNames(t, carol); len(got) == 0 {
		t.Error("another caller's session lost its tools")
	}
}

// An agent on its own (a client_credentials token, whose subject is the
// client itself) and a person whose username is the agent's client ID,
// through that agent, are two callers, each with its own sessions to
// bound: the person opening as many sessions as the bound allows does
// not close the agent's own. Before, the bound was counted by subject and
// client ID alone, which are the same for both.
func TestSessionBoundTellsAnAgentFromItsNamesake(t *testing.T) {
	e := newEnv(t, envOptions{})
	const version = "2025-11-25" // a revision with sessions
	if err := e.st.Users().Create(t.Context(), store.User{Username: "acme-assistant", Roles: []string{"hr"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	agent := e.connect("acme-assistant", "acme-assistant", version) // no grant: the client on its own
	if _, err := agent.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	person := e.token("acme-assistant", "acme-assistant", func(c *accesstoken.Claims) { c.GrantID = "g-namesake" })
	for i := range gateway.MaxSessionsPerCaller {
		cs := e.connectToken(person, version, nil)
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			t.Fatalf("the person's session %d: %v", i, err)
		}
	}
	if _, err := agent.ListTools(context.Background(), nil); err != nil {
		t.Errorf("the agent's own session, after its namesake's sessions: %v", err)
	}
}
