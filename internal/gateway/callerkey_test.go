package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// addHelperBot adds helper-bot, an agent with no tool cap, to e's tenant.
func addHelperBot(t *testing.T, e *env) {
	t.Helper()
	if err := e.st.Clients().Create(t.Context(), store.Client{ClientID: "helper-bot", Kind: store.KindAgent}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// aliceVia is alice's token for acme-assistant, exchanged (RFC 8693) from
// the one she gave via (no act when via is ""; via "acme-assistant": the
// agent exchanged its own token, which names it once).
func aliceVia(e *env, via string) string {
	return e.token("alice", "acme-assistant", func(c *accesstoken.Claims) {
		c.GrantID = "g-alice"
		switch via {
		case "":
		case "acme-assistant":
			c.Act = &accesstoken.Actor{Sub: via, ClientID: via}
		default:
			c.Act = &accesstoken.Actor{Sub: "acme-assistant", ClientID: "acme-assistant",
				Act: &accesstoken.Actor{Sub: via, ClientID: via}}
		}
	})
}

// manualToken is manualClient with tok.
func manualToken(e *env, tok string) *mcp.ClientSession {
	return e.connectToken(tok, "", &mcp.ClientOptions{
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return nil, errors.New("not asked here")
		},
	})
}

// TestFlightStaysWithItsChain: a call waiting for its caller's answer
// (a flight) is the caller's as the token it began with names it: the
// person, the agent, and the delegation chain the agent holds the token
// through. A token of the same person and agent through another chain is
// another caller: its retry is refused as one of a call that is not its
// own, and neither answers nor ends the call. Before, the flight's owner
// left the chain out: a retry under a chain whose cap excluded the tool
// was decided, denied, and ended the other chain's call; one under a
// chain that allowed it answered the other's question.
func TestFlightStaysWithItsChain(t *testing.T) {
	for _, tt := range []struct {
		name            string
		owner, intruder string // whom the token came through (aliceVia)
	}{
		{"a capped chain's retry", "", "payroll-bot"},
		{"an uncapped chain's call", "helper-bot", ""},
		{"another chain's call", "helper-bot", "payroll-bot"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := askingEnv(t, 0)
			addHelperBot(t, e)
			owner := manualToken(e, aliceVia(e, tt.owner))
			waitAsking(t, owner)
			intruder := manualToken(e, aliceVia(e, tt.intruder))
			ctx := context.Background()
			args := map[string]any{"amount": 12}
			first := askFirst(t, owner, &mcp.CallToolParams{Name: "confirm", Arguments: args})
			retry := &mcp.CallToolParams{Name: "confirm", Arguments: args, InputResponses: acceptAll(first), RequestState: first.RequestState}

			before := len(e.mem.all())
			res, err := intruder.CallTool(ctx, retry)
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || !strings.Contains(text(res), "no longer waiting for your answer") {
				t.Errorf("another chain's retry: %v %q", res.IsError, text(res))
			}
			evs := e.mem.all()[before:]
			if len(evs) == 0 || evs[0].Type != audit.ToolDecided || evs[0].Policy != gateway.PolicyRequestState {
				t.Errorf("another chain's retry recorded as %+v", evs)
			}
			// The call still waits for its own caller, who answers.
			res, err = owner.CallTool(ctx, retry)
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError || text(res) != "confirm: accept true" {
				t.Errorf("the owner's retry: %v %q", res.IsError, text(res))
			}
		})
	}
}

// sessionRequest is a request of the MCP session id (revision
// 2025-11-25) with tok.
func sessionRequest(e *env, tok, id, method, body string) *http.Request {
	req, _ := http.NewRequest(method, e.resource, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	return req
}

// sessionStatus is the HTTP status of a tools/list with tok on the MCP
// session id (revision 2025-11-25).
func sessionStatus(t *testing.T, e *env, tok, id string) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(sessionRequest(e, tok, id, "POST", `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionStaysWithItsChain: an MCP session, and the upstream session
// the gateway keeps for its caller (a lane), serve the caller that began
// it: the person (as created), the agent (as created) and the delegation
// chain (each of its clients as created). A token of the same person
// and agent through another chain, or through a client of the chain
// removed and added again since, is refused on it and gets a lane of its
// own. A token the agent exchanged from its own (which names the agent
// alone) is the same caller's.
func TestSessionStaysWithItsChain(t *testing.T) {
	up := newTestUpstream("Echoes")
	e := newEnv(t, serveUpstream(t, up, "echo"))
	addHelperBot(t, e)
	ctx := t.Context()
	lanes := func() int {
		n := 0
		for range up.Sessions() {
			n++
		}
		return n - 1 // the gateway's own
	}
	direct := e.connectToken(aliceVia(e, ""), "2025-11-25", nil)
	waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, direct), "echo") })
	call(t, direct, "echo", map[string]any{"text": "direct"})
	for _, c := range []struct {
		name string
		tok  string
		want int
	}{
		{"another token of the caller", aliceVia(e, ""), http.StatusOK},
		{"the agent's exchange of its own token", aliceVia(e, "acme-assistant"), http.StatusOK},
		{"through helper-bot", aliceVia(e, "helper-bot"), http.StatusForbidden},
		{"the agent on its own", e.token("acme-assistant", "acme-assistant"), http.StatusForbidden},
		{"another person", e.token("carol", "acme-assistant"), http.StatusForbidden},
	} {
		if s := sessionStatus(t, e, c.tok, direct.ID()); s != c.want {
			t.Errorf("%s on the session of alice's own token: %d, want %d", c.name, s, c.want)
		}
	}
	helped := e.connectToken(aliceVia(e, "helper-bot"), "2025-11-25", nil)
	call(t, helped, "echo", map[string]any{"text": "helped"})
	if n := lanes(); n != 2 {
		t.Errorf("%d lanes after alice's calls directly and through helper-bot, want 2", n)
	}

	// helper-bot removed and added again: the new one's chain is another.
	if err := e.st.Clients().Delete(ctx, "helper-bot"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a token of the new one is issued after the removal's second
	if err := e.st.Clients().Create(ctx, store.Client{ClientID: "helper-bot", Kind: store.KindAgent}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	again := aliceVia(e, "helper-bot")
	if s := sessionStatus(t, e, again, helped.ID()); s != http.StatusForbidden {
		t.Errorf("a token through the new helper-bot on the earlier one's session: %d", s)
	}
	call(t, e.connectToken(again, "2025-11-25", nil), "echo", map[string]any{"text": "again"})
	if n := lanes(); n != 3 {
		t.Errorf("%d lanes after a call through the new helper-bot, want 3", n)
	}
}

// TestBoundsSpanChains: limits.tool_calls_per_minute counts each person
// through each agent (README), whatever chain the agent holds her token
// through: the agent does not get the bound again with each chain.
func TestBoundsSpanChains(t *testing.T) {
	e := newEnv(t, envOptions{})
	addHelperBot(t, e)
	e.limitTo("2")
	month := map[string]any{"month": "2026-10"}
	for i, via := range []string{"", "helper-bot"} {
		if r := call(t, e.connectToken(aliceVia(e, via), "2025-11-25", nil), "sales_report", month); r.IsError {
			t.Fatalf("call %d: %s", i+1, text(r))
		}
	}
	r := call(t, e.connectToken(aliceVia(e, ""), "2025-11-25", nil), "sales_report", month)
	if !r.IsError || !strings.Contains(text(r), "more tool calls in the last minute") {
		t.Errorf("alice's third call through acme-assistant: %v %q", r.IsError, text(r))
	}
}
