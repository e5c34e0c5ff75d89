package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// toolEvents returns the trail's events of every call of tool, in
// the order recorded.
func toolEvents(e *env, tool string) []audit.Event {
	var out []audit.Event
	for _, ev := range e.mem.all() {
		if ev.Tool == tool && ev.Type != audit.ToolsListed {
			out = append(out, ev)
		}
	}
	return out
}

// TestNeverListedToolUnavailable: a tool of an upstream that has not been
// reachable since the gateway started has no known definition: nobody's
// tools/list shows it. A caller whose roles grant it and who calls it by
// name is told it could not be run, to try again later, as before; but
// the trail now holds one deny (policy "unavailable", the reason naming
// the upstream's state) and no slip: before, it held an allow, a slip
// minted (and spent) and an error result, for a call of a tool nobody was
// offered and that could not run. A caller without the role gets the
// refusal an unknown tool gets, as before.
func TestNeverListedToolUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "crm_lookup", Upstream: "crm", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "crm", URL: closedURL(t)}},
	})
	waitFor(t, "the upstream tried and refused", func() bool {
		for _, s := range e.gw.Upstreams() {
			if s.Name == "crm" && s.LastError != "" {
				return true
			}
		}
		return false
	})
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	if names := toolNames(t, alice); slices.Contains(names, "crm_lookup") {
		t.Fatalf("crm_lookup listed with no known definition: %v", names)
	}

	res := call(t, alice, "crm_lookup", map[string]any{"q": "acme"})
	if !res.IsError || text(res) != "The tool crm_lookup could not be run. Please try again later." {
		t.Errorf("alice (granted): %v %q", res.IsError, text(res))
	}
	evs := toolEvents(e, "crm_lookup")
	if len(evs) != 1 || evs[0].Type != audit.ToolDecided || evs[0].Decision != "deny" || evs[0].Policy != gateway.PolicyUnavailable {
		t.Fatalf("trail of alice's call: %+v, want one deny by %q", evs, gateway.PolicyUnavailable)
	}
	if why := strings.Join(evs[0].Reasons, "; "); !strings.Contains(why, "upstream crm") || !strings.Contains(why, "not been reachable since the gateway started") {
		t.Errorf("reason %q does not say the upstream's state", why)
	}
	if evs[0].SlipID != "" || evs[0].ArgsDigest == "" {
		t.Errorf("deny %+v: a slip ID, or no digest of the arguments", evs[0])
	}

	// bob may not call it: the refusal of a tool that does not exist.
	bob := e.connect("bob", "acme-assistant", "2025-11-25")
	shape := func(name string) string {
		r, err := bob.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"q": "acme"}})
		if err != nil {
			t.Fatalf("bob %s: %v", name, err)
		}
		b, _ := json.Marshal(r)
		return strings.ReplaceAll(string(b), name, "NAME")
	}
	denied, unknown := shape("crm_lookup"), shape("no_such_tool")
	if denied != unknown || !strings.Contains(denied, "Sorry, you don't have access to NAME.") {
		t.Errorf("bob: crm_lookup answered\n%s\nan unknown tool\n%s", denied, unknown)
	}
	evs = toolEvents(e, "crm_lookup")
	if len(evs) != 2 || evs[1].Decision != "deny" || evs[1].Policy != "default-deny" {
		t.Errorf("trail of bob's call: %+v, want the ordinary deny", evs[1:])
	}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.SlipMinted || ev.Type == audit.ToolResult {
			t.Errorf("%s for a tool that could not run: %+v", ev.Type, ev)
		}
	}
}

// downable serves s over Streamable HTTP, or refuses every request (as a
// server whose sessions are gone) while down is set.
func downable(t *testing.T, s *mcp.Server, down *atomic.Bool) *httptest.Server {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs
}

// TestListedToolUpstreamDown: a tool its upstream listed, whose upstream
// then went down, is known: it stays listed (its definition is pinned, and
// the upstream is being reconnected), and a call of it is allowed, its
// slip minted, and fails at its backend, recorded as the allowed call's
// error result ("not connected"), as a call of an HTTP API that is down
// is: the gateway does not check a known backend's health before the
// allow. A tool the same upstream never listed (declared while it was
// down) is not known, and is refused as unavailable, with no slip.
func TestListedToolUpstreamDown(t *testing.T) {
	var down atomic.Bool
	hs := downable(t, newTestUpstream("Echoes its text"), &down)
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: hs.URL}},
	})
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, alice), "echo") })

	down.Store(true)
	hs.CloseClientConnections()
	waitFor(t, "the upstream disconnected", func() bool { return !connected(e, "up")() })
	ctx := context.Background()
	if err := e.st.Tools().Create(ctx, store.Tool{Name: "later", Upstream: "up", Roles: []string{"sales-manager"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	if names := toolNames(t, alice); !slices.Contains(names, "echo") || slices.Contains(names, "later") {
		t.Errorf("listed while the upstream is down: %v, want echo and not later", names)
	}
	res := call(t, alice, "echo", map[string]any{"text": "hi"})
	if !res.IsError || text(res) != "The tool echo could not be run. Please try again later." {
		t.Errorf("echo, its upstream down: %v %q", res.IsError, text(res))
	}
	var got []string
	for _, ev := range toolEvents(e, "echo") {
		got = append(got, ev.Type+" "+ev.Decision+ev.Status)
		if ev.Type == audit.ToolResult {
			if msg, _ := ev.Detail["error"].(string); !strings.Contains(msg, "upstream up is not connected") {
				t.Errorf("result's error %q does not say the upstream is not connected", msg)
			}
		}
	}
	// An earlier call (none here) would come first: only this one's.
	if want := []string{"tool.decision allow", "slip.minted ", "tool.result error"}; !slices.Equal(got, want) {
		t.Errorf("trail of echo's call: %q, want %q", got, want)
	}

	res = call(t, alice, "later", map[string]any{"text": "hi"})
	if !res.IsError || text(res) != "The tool later could not be run. Please try again later." {
		t.Errorf("later, never listed: %v %q", res.IsError, text(res))
	}
	evs := toolEvents(e, "later")
	if len(evs) != 1 || evs[0].Decision != "deny" || evs[0].Policy != gateway.PolicyUnavailable ||
		!strings.Contains(strings.Join(evs[0].Reasons, "; "), "upstream up is not connected") {
		t.Errorf("trail of later's call: %+v, want one deny by %q saying the upstream is not connected", evs, gateway.PolicyUnavailable)
	}
}
