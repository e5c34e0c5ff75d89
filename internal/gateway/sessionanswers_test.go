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

// TestSessionCallerAnswerNotInTrail: on a session (a caller before
// revision 2026-07-28), what the person answers an upstream's form is
// never kept in the trail either: an upstream whose error repeats the
// answer ("card 4111… declined") has its message kept without it, for a
// tool call and for a prompt, as for a caller answering on retries
// (TestUpstreamErrorKeepsNoAnswer); the caller gets the error as it came.
func TestSessionCallerAnswerNotInTrail(t *testing.T) {
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
	cs := e.connectToken(e.token("alice", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"card": card}}, nil
		},
	})
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
	kept := 0
	for _, ev := range e.mem.all() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), card) {
			t.Errorf("the %s record holds the caller's answer: %s", ev.Type, b)
		}
		if msg, _ := ev.Detail["error"].(string); msg == "card [argument] declined" {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d results keep the upstream's message without the answer, want 2", kept)
	}
}
