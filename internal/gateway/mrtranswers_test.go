package gateway_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUpstreamErrorKeepsNoAnswer: the trail keeps what a caller answered
// an upstream's question as what kind of answer it was, never its
// content. An upstream whose protocol error repeats the answer ("card
// 4111… declined") has its message kept with the answer's values taken
// out, as the call's own arguments are (TestUpstreamErrorKeepsNoRawArguments),
// for a tool call and for a prompt; the caller gets the error as it came.
// So for a caller answering on retries (2026-07-28) and for one asked on
// its session (2025-11-25), whose answers the trail kept before.
func TestUpstreamErrorKeepsNoAnswer(t *testing.T) {
	const card = "4111111111111111"
	cardSchema := map[string]any{"type": "object", "properties": map[string]any{"card": map[string]any{"type": "string"}}}
	askCard := func(ctx context.Context, ss *mcp.ServerSession) error {
		res, err := ss.Elicit(ctx, &mcp.ElicitParams{Message: "Which card?", RequestedSchema: cardSchema})
		if err != nil {
			return err
		}
		got, _ := res.Content["card"].(string)
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "card " + got + " declined"}
	}
	for _, version := range []string{"", "2025-11-25"} {
		t.Run("revision "+version, func(t *testing.T) {
			up := mcp.NewServer(&mcp.Implementation{Name: "payments", Version: "1"}, nil)
			mcp.AddTool(up, &mcp.Tool{Name: "pay", Description: "Asks for a card"},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					return nil, nil, askCard(ctx, req.Session)
				})
			up.AddPrompt(&mcp.Prompt{Name: "checkout", Description: "Asks for a card"},
				func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
					return nil, askCard(ctx, req.Session)
				})
			e := newEnv(t, serveUpstream(t, up, "pay"))
			cs := e.connectToken(e.token("alice", "acme-assistant"), version, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"card": card}}, nil
				},
			})
			if v := cs.InitializeResult().ProtocolVersion; version == "" && v < "2026-07-28" {
				t.Fatalf("negotiated %s; the case is of 2026-07-28", v)
			}
			ctx := context.Background()
			waitFor(t, "pay and checkout listed", func() bool {
				p, err := cs.ListPrompts(ctx, nil)
				return slices.Contains(toolNames(t, cs), "pay") && err == nil && len(p.Prompts) == 1
			})
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "pay", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), card) {
				t.Fatalf("the tool call: the caller gets the upstream's error as it came: %v", err)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "checkout"}); err == nil || !strings.Contains(err.Error(), card) {
				t.Fatalf("the prompt: the caller gets the upstream's error as it came: %v", err)
			}
			results := 0
			for _, ev := range e.mem.all() {
				b, _ := json.Marshal(ev)
				if strings.Contains(string(b), card) {
					t.Errorf("the %s record holds the caller's answer: %s", ev.Type, b)
				}
				if msg, _ := ev.Detail["error"].(string); msg == "card [argument] declined" {
					results++
				}
			}
			if results != 2 {
				t.Errorf("%d results keep the upstream's message without the answer, want 2", results)
			}
		})
	}
}

// TestStaleRetriesAreCounted: limits.tool_calls_per_minute counts every
// tools/call a caller makes, refused ones included, so that an agent
// caught in a loop is stopped whatever it asks for. One that loops on a
// request state no call waits under (made up, of a call that ended, or
// of one on another replica) is refused each time, on the record, and is
// counted as any refused call is: past the bound it is refused as over
// it, and so are its other calls.
func TestStaleRetriesAreCounted(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.limitTo("3")
	alice := manualClient(e, "alice")
	ctx := context.Background()
	month := map[string]any{"month": "2026-10"}
	for i := range 5 {
		res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "sales_report", Arguments: month, RequestState: "stale",
			InputResponses: mcp.InputResponseMap{"input-1": &mcp.ElicitResult{Action: "accept"}}})
		if err != nil || !res.IsError {
			t.Fatalf("stale retry %d: %v %+v", i+1, err, res)
		}
		want := "no longer waiting for your answer"
		if i >= 3 {
			want = "more tool calls in the last minute"
		}
		if !strings.Contains(text(res), want) {
			t.Errorf("stale retry %d: %q, want it to say %q", i+1, text(res), want)
		}
	}
	if r := call(t, alice, "sales_report", month); !r.IsError || !strings.Contains(text(r), "more tool calls in the last minute") {
		t.Errorf("a call after the stale retries used up the minute: %v %q", r.IsError, text(r))
	}
}
