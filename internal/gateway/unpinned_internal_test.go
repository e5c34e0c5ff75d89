package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUnpinnedToolNotRun: an upstream tool the tenant declared and the
// gateway has not pinned yet (its upstream has not listed it since) is
// not listed, and a call of it is refused before it runs: on a catalogue
// built then, decide denies it as withheld, and checkServed, which checks
// the pin again before the call goes out, refuses a tool with none. Under
// load the catalogue a call is decided on can be that one for a moment
// after a name is declared; before, the call went to whatever the upstream
// served, approved or not.
func TestUnpinnedToolNotRun(t *testing.T) {
	d := &tenantData{
		tools:     []store.Tool{{Name: "echo_b", Upstream: "up", UpstreamTool: "echo", Roles: []string{"r"}}},
		users:     []store.User{{Username: "u", Roles: []string{"r"}}},
		clients:   []store.Client{{ClientID: "a", Kind: store.KindAgent}},
		upstreams: []store.Upstream{{Name: "up", URL: "http://127.0.0.1:1/mcp"}},
	}
	cat, err := buildCatalogue(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cat.resolve(&accesstoken.Claims{Subject: "u", ClientID: "a", GrantID: "g", IssuedAt: time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	e := cat.tools["echo_b"]
	if e == nil || e.callable() {
		t.Fatalf("entry %+v, want one not callable", e)
	}
	if dec := decide(cat, who, e, "echo_b", callArgs{}); dec.Allow || dec.Policy != PolicyWithheld {
		t.Errorf("decision %+v, want withheld", dec)
	}
	c := &upConn{defs: map[string]liveDef{"echo": {hash: "h"}}}
	if err := c.checkServed(context.Background(), e.tool); err == nil || !strings.Contains(err.Error(), "no definition of echo is approved") {
		t.Errorf("checkServed of an unpinned tool: %v", err)
	}
}
