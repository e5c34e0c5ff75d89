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

// A caller's prompts/get, resources/read and completion/complete
// requests hold its call slots
// as its tool calls do: with maxCallsPerCaller of them running at the
// upstream, more are refused at once, on the record, and never reach it;
// another caller's are not held back. Before, each went to the upstream,
// however many there were.
func TestFeatureRequestsPerCallerAreBounded(t *testing.T) {
	defer gateway.SetMaxCallsPerCaller(3)()
	hold := make(chan struct{})
	started := make(chan string, 16)
	wait := func(ctx context.Context, what string) {
		started <- what
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	up := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			wait(ctx, "completion")
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"b"}}}, nil
		},
	})
	addEcho(up, "Echoes its text")
	up.AddResource(&mcp.Resource{URI: "file:///slow.txt", Name: "slow"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		wait(ctx, "read")
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "notes"}}}, nil
	})
	up.AddPrompt(&mcp.Prompt{Name: "slow"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		wait(ctx, "prompt")
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
	})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	ctx := context.Background()
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the upstream's prompt and resource", func() bool {
		pl, err := alice.ListPrompts(ctx, nil)
		rl, err2 := alice.ListResources(ctx, nil)
		return err == nil && err2 == nil && len(pl.Prompts) == 1 && len(rl.Resources) == 1
	})
	read := func(cs *mcp.ClientSession) error {
		_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///slow.txt"})
		return err
	}
	prompt := func(cs *mcp.ClientSession) error {
		_, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "slow"})
		return err
	}
	complete := func(cs *mcp.ClientSession) error {
		_, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "slow"}, Argument: mcp.CompleteParamsArgument{Name: "x", Value: "a"}})
		return err
	}
	// Three running at the upstream: alice's slots are taken.
	var ran sync.WaitGroup
	held := make(chan error, 3)
	for _, f := range []func(*mcp.ClientSession) error{read, prompt, complete} {
		ran.Go(func() { held <- f(alice) })
		select {
		case <-started:
		case err := <-held:
			t.Fatalf("a request ended before it reached the upstream: %v", err)
		}
	}
	// More, of both kinds, from another session of alice's: refused.
	other := e.connect("alice", "acme-assistant", "2025-11-25")
	refused := make(chan error, 9)
	for _, f := range []func(*mcp.ClientSession) error{read, prompt, complete} {
		for range 3 {
			ran.Go(func() { refused <- f(other) })
		}
	}
	for range 9 {
		select {
		case err := <-refused:
			if err == nil || !strings.Contains(err.Error(), "Too many of your tool calls and requests are running at once (3)") {
				t.Errorf("a request beyond the bound was answered %v", err)
			}
		case what := <-started:
			t.Errorf("a %s beyond the bound reached the upstream", what)
		}
	}
	busy := map[string]int{}
	for _, ev := range e.mem.all() {
		if ev.Type == audit.FeatureDecided && ev.Policy == gateway.PolicyCallerBusy && ev.Decision == "deny" && ev.Actor == "alice" {
			busy[ev.Detail["method"].(string)]++
		}
	}
	if busy["resources/read"] != 3 || busy["prompts/get"] != 3 || busy["completion/complete"] != 3 {
		t.Errorf("the refusals on the record, by method: %v", busy)
	}
	// Another caller is not held back.
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	carols := make(chan error, 2)
	ran.Go(func() { carols <- read(carol) })
	ran.Go(func() { carols <- prompt(carol) })
	for range 2 {
		select {
		case <-started:
		case err := <-carols:
			t.Fatalf("carol's request ended before it reached the upstream: %v", err)
		}
	}
	close(hold)
	ran.Wait()
	for range 3 {
		if err := <-held; err != nil {
			t.Errorf("a held request of alice's: %v", err)
		}
	}
	for range 2 {
		if err := <-carols; err != nil {
			t.Errorf("carol's request: %v", err)
		}
	}
	// The slots are free again.
	if err := read(other); err != nil {
		t.Errorf("after the requests ended: %v", err)
	}
}
