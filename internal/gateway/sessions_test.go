package gateway_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
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
