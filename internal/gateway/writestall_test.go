package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// TestCallerThatStopsReadingHoldsNoOneElse: a caller that keeps its
// call's response open but stops reading it (its TCP window shut) holds
// up no other caller's notifications. Both calls share the gateway's one
// session with the upstream (no lanes), where the upstream's
// notifications are handled one after the other. Before, relaying the
// stalled caller's progress blocked on its connection for as long as it
// stayed open, and every later notification of that upstream session
// (carol's progress here, anyone's list changes and resource updates)
// waited behind it; now a write to a caller that does not take it within
// the write bound fails, and cuts that caller's stream.
func TestCallerThatStopsReadingHoldsNoOneElse(t *testing.T) {
	defer gateway.SetMaxLanes(0)()
	defer gateway.SetStreamWriteTimeout(500 * time.Millisecond)()
	sent := make(chan struct{})
	up := mcp.NewServer(&mcp.Implementation{Name: "loud", Version: "1"}, nil)
	type noIn struct{}
	mcp.AddTool(up, &mcp.Tool{Name: "loud", Description: "Reports a lot of progress"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ noIn) (*mcp.CallToolResult, any, error) {
			big := strings.Repeat("x", 64<<10)
			for k := 1; k <= 300 && ctx.Err() == nil; k++ {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(k), Message: big})
			}
			close(sent)
			<-ctx.Done()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	mcp.AddTool(up, &mcp.Tool{Name: "quick", Description: "Reports progress once"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ noIn) (*mcp.CallToolResult, any, error) {
			req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 1})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "loud", "quick"))

	aliceToken := e.token("alice", "acme-assistant")
	alice := e.connectToken(aliceToken, "2025-11-25", nil)
	var progress atomic.Int64
	carol := e.connectToken(e.token("carol", "acme-assistant"), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	})
	waitFor(t, "the tools listed", func() bool { return slices.Contains(toolNames(t, carol), "quick") })

	// alice calls loud on her session and never reads the answer.
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"loud","arguments":{},"_meta":{"progressToken":"p"}}}`
	req, err := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", alice.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream did not send its progress")
	}

	params := &mcp.CallToolParams{Name: "quick", Arguments: map[string]any{}}
	params.SetProgressToken("b")
	if r, err := carol.CallTool(context.Background(), params); err != nil || text(r) != "done" {
		t.Fatalf("carol's quick = %v, %v", r, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for progress.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if progress.Load() == 0 {
		t.Fatal("carol's progress did not reach her while alice did not read hers")
	}
}
