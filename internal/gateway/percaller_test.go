package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// runMemoUpstream serves, on stdin/stdout, a tool that keeps what it is
// told in its process (a stored login, a working folder), a resource and
// a prompt that show it, and a tool that runs until a file exists. With
// a file name as its argument, it starts only while that file exists.
func runMemoUpstream() {
	if len(os.Args) > 2 {
		if _, err := os.Stat(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	var mu sync.Mutex
	memo := ""
	recall := func() string {
		mu.Lock()
		defer mu.Unlock()
		return memo
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "memo", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "memo", Description: "Remembers a value in this process"},
		func(ctx context.Context, req *mcp.CallToolRequest, in memoIn) (*mcp.CallToolResult, any, error) {
			mu.Lock()
			if in.Set != "" {
				memo = in.Set
			}
			v := memo
			mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: v}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "hold", Description: "Runs until a file exists"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			Path string `json:"path"`
		}) (*mcp.CallToolResult, any, error) {
			for {
				if _, err := os.Stat(in.Path); err == nil {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "held"}}}, nil, nil
				}
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "The server's process ID"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(os.Getpid())}}}, nil, nil
		})
	s.AddResource(&mcp.Resource{URI: "memo://current", Name: "memo", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: recall()}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "recall", Description: "What was remembered"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "remembered: " + recall()}}}}, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// memoEnv is a gateway with the memo upstream (runMemoUpstream), stdio
// and per_caller, whose tools alice and carol (sales) and bob (HR) may
// call; startFile, when not "", is the file its processes need to start.
func memoEnv(t *testing.T, startFile string) (*env, func() int) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := []string{exe, "-gatehouse-test-memo-upstream"}
	if startFile != "" {
		command = append(command, startFile)
	}
	roles := []string{"sales-manager", "hr"}
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "memo", Upstream: "up", Roles: roles}, {Name: "hold", Upstream: "up", Roles: roles},
			{Name: "pid", Upstream: "up", Roles: roles}},
		upstreams: []store.Upstream{{Name: "up", Command: command, PerCaller: true}}})
	lanes := func() int {
		for _, s := range e.gw.Upstreams() {
			if s.Name == "up" {
				return s.Lanes
			}
		}
		return -1
	}
	return e, lanes
}

// denials returns the denied tool decisions of actor's calls of tool.
func (e *env) denials(actor, tool string) []audit.Event {
	var out []audit.Event
	for _, ev := range e.mem.all() {
		if ev.Type == audit.ToolDecided && ev.Decision == "deny" && ev.Actor == actor && ev.Tool == tool {
			out = append(out, ev)
		}
	}
	return out
}

// TestPerCallerBusyLanesRefuse: on a per_caller upstream with all its
// callers' processes busy, a new caller's call is refused politely and on
// the record; it never runs on the gateway's own process. Once a process
// is idle, it is closed for the next caller's.
func TestPerCallerBusyLanesRefuse(t *testing.T) {
	t.Cleanup(gateway.SetMaxLanes(1))
	e, lanes := memoEnv(t, "")
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })

	gate := filepath.Join(t.TempDir(), "gate")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o600) }) // before the gateway closes
	held := make(chan string, 1)
	go func() {
		r, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{"path": gate}})
		if err != nil {
			held <- err.Error()
			return
		}
		held <- text(r)
	}()
	waitFor(t, "alice's own process taken", func() bool { return lanes() == 1 })

	r := call(t, carol, "memo", map[string]any{"set": "carol-secret"})
	if !r.IsError || !strings.Contains(text(r), "Too many calls are running on up at once") {
		t.Fatalf("carol's call with alice's process busy = %v %q, want a refusal", r.IsError, text(r))
	}
	d := e.denials("carol", "memo")
	if len(d) != 1 || d[0].Policy != gateway.PolicyLanesBusy || len(d[0].Reasons) == 0 || !strings.Contains(d[0].Reasons[0], "none idle") {
		t.Fatalf("carol's refusal recorded as %+v, want one deny of policy %s with a reason", d, gateway.PolicyLanesBusy)
	}
	if n := lanes(); n != 1 {
		t.Errorf("%d lanes open, want alice's only", n)
	}

	// alice's call ends: her process idles, and is closed for carol's.
	os.WriteFile(gate, nil, 0o600)
	if got := <-held; got != "held" {
		t.Fatalf("alice's hold = %q", got)
	}
	if r := call(t, carol, "memo", map[string]any{"set": "carol-secret"}); r.IsError || text(r) != "carol-secret" {
		t.Errorf("carol's call once alice's process idled = %v %q", r.IsError, text(r))
	}
	if n := len(e.denials("carol", "memo")); n != 1 {
		t.Errorf("carol's calls were refused %d times, want once", n)
	}
}

// TestPerCallerIdleLaneMakesRoom: with as many callers' processes open as
// a per_caller upstream may have, a new caller's call closes the one idle
// longest and runs in a new process of its own: what another caller left
// in theirs, or in the gateway's own, it never sees.
func TestPerCallerIdleLaneMakesRoom(t *testing.T) {
	t.Cleanup(gateway.SetMaxLanes(1))
	e, lanes := memoEnv(t, "")
	alice, carol, bob := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25"),
		e.connect("bob", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })
	pid := func(cs *mcp.ClientSession) int {
		t.Helper()
		var p int
		if _, err := fmt.Sscan(text(call(t, cs, "pid", nil)), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	if got := text(call(t, alice, "memo", map[string]any{"set": "alice-secret"})); got != "alice-secret" {
		t.Fatalf("alice's memo = %q", got)
	}
	a := pid(alice)
	if got := text(call(t, carol, "memo", nil)); got != "" {
		t.Errorf("carol's first memo = %q, want nothing", got)
	}
	if got := text(call(t, carol, "memo", map[string]any{"set": "carol-secret"})); got != "carol-secret" {
		t.Fatalf("carol's memo = %q", got)
	}
	c := pid(carol)
	if got := text(call(t, bob, "memo", nil)); got != "" {
		t.Errorf("bob's first memo = %q: he sees what another caller left", got)
	}
	if b := pid(bob); b == a || b == c || a == c {
		t.Errorf("alice's, carol's and bob's calls ran in processes %d, %d, %d, want three", a, c, b)
	}
	if n := lanes(); n != 1 {
		t.Errorf("%d lanes open, want 1", n)
	}
	waitFor(t, "the processes closed for others' ended", func() bool { return !processRuns(a) && !processRuns(c) })
	if got := text(call(t, alice, "memo", nil)); got != "" {
		t.Errorf("alice's memo in a new process = %q, want nothing", got)
	}
	for _, who := range []string{"alice", "carol", "bob"} {
		if d := e.denials(who, "memo"); len(d) != 0 {
			t.Errorf("%s's calls refused: %+v", who, d)
		}
	}
}

// TestPerCallerLaneThatFailsToStartRefuses: when a caller's own process
// of a per_caller upstream does not start, the call is refused politely
// and on the record, and so are new callers' calls for a while; none runs
// on the gateway's own process, where another caller's state would be.
func TestPerCallerLaneThatFailsToStartRefuses(t *testing.T) {
	start := filepath.Join(t.TempDir(), "may-start")
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e, lanes := memoEnv(t, start)
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })
	// Its resources are listed after its tools: a read before is refused
	// as not found, whatever the lanes do.
	waitFor(t, "memo://current listed", func() bool {
		rl, err := alice.ListResources(context.Background(), nil)
		return err == nil && slices.ContainsFunc(rl.Resources, func(r *mcp.Resource) bool { return r.URI == "memo://current" })
	})
	os.Remove(start) // the gateway's own process runs; no other starts

	for who, cs := range map[string]*mcp.ClientSession{"alice": alice, "carol": carol} {
		r := call(t, cs, "memo", map[string]any{"set": who + "-secret"})
		if !r.IsError || text(r) != "Sorry, your own instance of up could not be started. Please try again shortly." {
			t.Errorf("%s's call with no process of her own = %v %q, want a refusal", who, r.IsError, text(r))
		}
		d := e.denials(who, "memo")
		if len(d) != 1 || d[0].Policy != gateway.PolicyLaneFailed || len(d[0].Reasons) == 0 {
			t.Errorf("%s's refusal recorded as %+v, want one deny of policy %s with a reason", who, d, gateway.PolicyLaneFailed)
		}
	}
	if n := lanes(); n != 0 {
		t.Errorf("%d lanes open, want none", n)
	}
	// Nor does a resource or a prompt reach the gateway's own process.
	ctx := context.Background()
	if rr, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "memo://current"}); err == nil {
		t.Errorf("alice read the gateway's own process's memo: %+v", rr.Contents)
	} else if !strings.Contains(err.Error(), "could not be started") {
		t.Errorf("alice's read refused with %v", err)
	}
}

// TestPerCallerLaneTriedAgainSoon: after a caller's own process failed to
// start once, a new one is tried after a second, not a minute: a failure
// that passes keeps callers out for about that long.
func TestPerCallerLaneTriedAgainSoon(t *testing.T) {
	start := filepath.Join(t.TempDir(), "may-start")
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e, _ := memoEnv(t, start)
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })
	os.Remove(start)
	if r := call(t, alice, "memo", map[string]any{"set": "x"}); !r.IsError {
		t.Fatalf("alice's call with no process of her own = %q, want a refusal", text(r))
	}
	failed := time.Now()
	if err := os.WriteFile(start, nil, 0o600); err != nil { // the next start works
		t.Fatal(err)
	}
	for {
		r := call(t, alice, "memo", map[string]any{"set": "x"})
		if !r.IsError {
			break
		}
		if time.Since(failed) > 15*time.Second {
			t.Fatalf("15 s after one failed start alice is still refused: %q", text(r))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("alice's own process started %v after the failed one", time.Since(failed).Round(time.Millisecond))
}

// TestPerCallerFeaturesInOwnProcess: a caller's resource reads, prompts
// and completions of a per_caller upstream go to its own process, where
// its calls left their state, never to the gateway's own; a subscription
// to one of its resources is refused.
func TestPerCallerFeaturesInOwnProcess(t *testing.T) {
	e, _ := memoEnv(t, "")
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	ctx := context.Background()
	// The upstream's resources and prompts are listed after its tools, and
	// its prompt is served once pinned: a read or a get sent when only its
	// tools are listed is not found.
	waitFor(t, "the memo resource and the recall prompt listed", func() bool {
		rl, err := alice.ListResources(ctx, nil)
		if err != nil || !slices.ContainsFunc(rl.Resources, func(r *mcp.Resource) bool { return r.URI == "memo://current" }) {
			return false
		}
		pl, err := alice.ListPrompts(ctx, nil)
		return err == nil && slices.ContainsFunc(pl.Prompts, func(p *mcp.Prompt) bool { return p.Name == "recall" })
	})
	read := func(cs *mcp.ClientSession) string {
		t.Helper()
		rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "memo://current"})
		if err != nil {
			t.Fatalf("read memo://current: %v", err)
		}
		return rr.Contents[0].Text
	}
	prompt := func(cs *mcp.ClientSession) string {
		t.Helper()
		p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "recall"})
		if err != nil {
			t.Fatalf("get prompt recall: %v", err)
		}
		return p.Messages[0].Content.(*mcp.TextContent).Text
	}

	call(t, alice, "memo", map[string]any{"set": "alice-secret"})
	if got := read(alice); got != "alice-secret" {
		t.Errorf("alice reads %q, want what her call stored", got)
	}
	if got := prompt(alice); got != "remembered: alice-secret" {
		t.Errorf("alice's prompt = %q", got)
	}
	if got, p := read(carol), prompt(carol); got != "" || p != "remembered: " {
		t.Errorf("carol reads %q and gets the prompt %q, want nothing remembered", got, p)
	}
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "memo://current"}); err == nil {
		t.Error("alice subscribed to a resource of a per_caller upstream")
	}
	denied := false
	for _, ev := range e.mem.all() {
		denied = denied || ev.Type == audit.FeatureDecided && ev.Decision == "deny" && ev.Actor == "alice" && ev.Detail["method"] == "resources/subscribe"
	}
	if !denied {
		t.Error("no denied feature decision of alice's subscription")
	}
}
