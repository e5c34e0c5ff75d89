package gateway_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
)

// A caller with maxCallsPerCaller calls running is refused another at
// once, politely and on the record, before any backend runs; another
// caller is not, and once a call ends the caller may call again.
func TestCallsPerCallerAreBounded(t *testing.T) {
	defer gateway.SetMaxCallsPerCaller(3)()
	hold := make(chan struct{})
	started := make(chan struct{}, 16)
	var ran sync.WaitGroup
	up := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "slow", Description: "Answers when released"},
		func(ctx context.Context, req *mcp.CallToolRequest, in whoIn) (*mcp.CallToolResult, any, error) {
			started <- struct{}{}
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done for " + in.Who}}}, nil, nil
		})
	e := newEnv(t, serveUpstream(t, up, "slow"))
	alice := e.connect("alice", "acme-assistant", "")
	// The upstream's tools are imported in the background.
	waitFor(t, "slow listed", func() bool { return slices.Contains(toolNames(t, alice), "slow") })
	results := make(chan *mcp.CallToolResult, 3)
	for range 3 {
		ran.Go(func() { results <- call(t, alice, "slow", map[string]any{"who": "alice"}) })
		select {
		case <-started:
		case r := <-results:
			t.Fatalf("a call ended before it reached the upstream: %q", text(r))
		}
	}
	// A fourth, from another session of the same caller: refused now.
	other := e.connect("alice", "acme-assistant", "")
	res := call(t, other, "slow", map[string]any{"who": "alice"})
	if !res.IsError || !strings.Contains(text(res), "Too many of your tool calls are running at once (3)") {
		t.Errorf("the fourth call: %+v %q", res, text(res))
	}
	var busy *audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Policy == gateway.PolicyCallerBusy {
			busy = &ev
		}
	}
	if busy == nil || busy.Decision != "deny" || busy.Actor != "alice" || busy.Tool != "slow" {
		t.Errorf("the refusal on the record: %+v", busy)
	}
	select {
	case <-started:
		t.Error("the refused call reached the upstream")
	default:
	}
	// Another caller is not held back.
	carol := e.connect("carol", "acme-assistant", "")
	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- call(t, carol, "slow", map[string]any{"who": "carol"}) }()
	<-started
	close(hold)
	if r := <-done; r.IsError {
		t.Errorf("carol's call: %q", text(r))
	}
	ran.Wait()
	close(results)
	for r := range results {
		if r.IsError || text(r) != "done for alice" {
			t.Errorf("a held call: %q", text(r))
		}
	}
	// The slots are free again.
	if r := call(t, other, "slow", map[string]any{"who": "alice"}); r.IsError {
		t.Errorf("after the calls ended: %q", text(r))
	}
}
