package gateway_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
)

// TestCancelledCallOnTheRecord: a call its caller cancels (with
// notifications/cancelled on a session, by ending its request on the
// stateless revision) is cancelled upstream, frees the caller's call
// slot, and its result is on the record as cancelled, with how long it
// ran. Before, the trail said "error", as it does of an upstream that
// failed, and the log warned that the call failed: an admin reading the
// trail could not tell the caller's change of mind from a broken tool.
func TestCancelledCallOnTheRecord(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			defer gateway.SetMaxCallsPerCaller(1)()
			o, started, cancelled := hangingUpstream(t)
			e := newEnv(t, o)
			alice := e.connect("alice", "acme-assistant", version)
			waitFor(t, "hang listed", func() bool { return slices.Contains(toolNames(t, alice), "hang") })

			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "hang", Arguments: map[string]any{}})
				errc <- err
			}()
			<-started
			time.Sleep(50 * time.Millisecond) // a duration to record
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("the cancelled call returned %v", err)
			}
			select {
			case <-cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream was not told the call was cancelled")
			}
			var result audit.Event
			waitFor(t, "the call's result on the record", func() bool {
				i := slices.IndexFunc(e.mem.all(), func(ev audit.Event) bool { return ev.Type == audit.ToolResult && ev.Tool == "hang" })
				if i >= 0 {
					result = e.mem.all()[i]
				}
				return i >= 0
			})
			if result.Status != "cancelled" || result.DurationMS < 50 {
				t.Errorf("the cancelled call's result: status %q, %vms (%v); want cancelled, its duration", result.Status, result.DurationMS, result.Detail)
			}
			// Its one slot is free again: the caller's next call reaches
			// the upstream.
			next, stop := context.WithCancel(context.Background())
			defer stop()
			go alice.CallTool(next, &mcp.CallToolParams{Name: "hang", Arguments: map[string]any{}})
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Error("the caller's next call did not run: its slot was not freed")
			}
		})
	}
}

// TestCancelledPromptOnTheRecord: a prompts/get forwarded to an upstream
// and cancelled by its caller is on the record as cancelled, as a tool
// call is, not as the upstream's error.
func TestCancelledPromptOnTheRecord(t *testing.T) {
	started := make(chan struct{}, 1)
	up := mcp.NewServer(&mcp.Implementation{Name: "stuck", Version: "1"}, nil)
	addEcho(up, "Echoes its text")
	up.AddPrompt(&mcp.Prompt{Name: "stuck"}, func(ctx context.Context, _ *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	e := newEnv(t, serveUpstream(t, up, "echo"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "the prompt listed", func() bool {
		r, err := alice.ListPrompts(context.Background(), nil)
		return err == nil && len(r.Prompts) == 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	go alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "stuck"})
	<-started
	cancel()
	var result audit.Event
	waitFor(t, "the prompt's result on the record", func() bool {
		i := slices.IndexFunc(e.mem.all(), func(ev audit.Event) bool { return ev.Type == audit.FeatureResult })
		if i >= 0 {
			result = e.mem.all()[i]
		}
		return i >= 0
	})
	if result.Status != "cancelled" {
		t.Errorf("the cancelled prompts/get's result: status %q (%v), want cancelled", result.Status, result.Detail)
	}
}
