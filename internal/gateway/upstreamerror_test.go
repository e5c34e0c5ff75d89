package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamErrorKeepsNoRawArguments: without audit.raw_arguments the
// trail keeps a call's arguments only as a digest. An upstream's protocol
// error that repeats them ("invalid params: {"card":"4111…"}") reaches the
// caller as it came, and the trail keeps its code and message with the
// arguments' values taken out; with raw_arguments on, the message whole.
func TestUpstreamErrorKeepsNoRawArguments(t *testing.T) {
	const card, note = "4111111111111111", `a "quoted" note`
	up := mcp.NewServer(&mcp.Implementation{Name: "payments", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "charge", Description: "Charges a card"},
		func(context.Context, *mcp.CallToolRequest, map[string]any) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("not reached")
		})
	up.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if r, ok := req.(*mcp.CallToolRequest); ok && method == "tools/call" {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid params: " + string(r.Params.Arguments)}
			}
			return next(ctx, method, req)
		}
	})
	e := newEnv(t, serveUpstream(t, up, "charge"))
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "charge listed", func() bool { return slices.Contains(toolNames(t, alice), "charge") })
	lastResult := func() audit.Event {
		var last audit.Event
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolResult {
				last = ev
			}
		}
		return last
	}
	args := map[string]any{"card": card, "note": note, "n": 7}
	_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "charge", Arguments: args})
	if err == nil || !strings.Contains(err.Error(), card) {
		t.Fatalf("the caller gets the upstream's error as it came: %v", err)
	}
	for _, ev := range e.mem.all() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), card) || strings.Contains(string(b), "quoted") {
			t.Errorf("raw_arguments is off, and the %s record holds an argument: %s", ev.Type, b)
		}
	}
	r := lastResult()
	if msg, _ := r.Detail["error"].(string); r.Status != "error" || !strings.Contains(msg, "invalid params:") || !strings.Contains(msg, `"card":"[argument]"`) {
		t.Errorf("the result keeps the upstream's message without the values: %+v", r)
	}

	// With raw arguments kept (and none redacted), the message whole.
	if err := e.st.SetSetting(ctx, "audit.raw_arguments", "true"); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "charge", Arguments: args}); err == nil {
		t.Fatal("the upstream's error did not reach the caller")
	}
	if msg, _ := lastResult().Detail["error"].(string); !strings.Contains(msg, card) {
		t.Errorf("raw_arguments on: the result's message %q, want it whole", msg)
	}
}

// TestUpstreamTransportFailureIsAToolFailure: an upstream that fails a
// tools/call at the transport (a proxy in front of it answering 502) is
// a failed call, as a prompts/get it fails so is: the caller gets the
// tool's failure, not the SDK client's own JSON-RPC error ("rejected by
// transport", -32005), which no upstream sent; and the trail keeps what
// went wrong.
func TestUpstreamTransportFailureIsAToolFailure(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "behind-a-proxy", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil)
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if bytes.Contains(b, []byte(`"tools/call"`)) {
				http.Error(w, "no backend", http.StatusBadGateway)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(us.Close)
	e := newEnv(t, envOptions{tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: []string{"sales-manager"}}},
		upstreams: []store.Upstream{{Name: "up", URL: us.URL}}})
	ctx := context.Background()
	for _, v := range []string{"2025-11-25", ""} {
		alice := e.connect("alice", "acme-assistant", v)
		waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, alice), "echo") })
		res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		if err != nil {
			t.Errorf("%q: a protocol error for an upstream that failed: %v", v, err)
			continue
		}
		// The call left for the upstream, and no answer came back: the
		// upstream behind the proxy may have acted (a proxy times out
		// too), so the caller is not told to try again.
		if want := "The tool echo may have run: no answer saying whether it was carried out arrived. Check before calling it again."; !res.IsError || text(res) != want {
			t.Errorf("%q: %v %q, want the tool's failure", v, res.IsError, text(res))
		}
	}
	for _, ev := range e.mem.all() {
		if ev.Type != audit.ToolResult {
			continue
		}
		if msg, _ := ev.Detail["error"].(string); ev.Status != "error" || !strings.Contains(msg, "Bad Gateway") || ev.Detail["code"] != nil {
			t.Errorf("the result does not say what went wrong: %+v", ev)
		}
	}
}
