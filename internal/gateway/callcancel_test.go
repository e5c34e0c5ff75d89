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

// slowAllow is a trail whose commit of an allow takes until release is
// closed, and which, as audit.Log does, stops waiting when the context
// ends, the allow going into the trail all the same.
type slowAllow struct {
	audit.Recorder
	committing chan struct{}
	release    chan struct{}
}

func (s *slowAllow) Record(ctx context.Context, ev audit.Event) error {
	if (ev.Type == audit.ToolDecided || ev.Type == audit.FeatureDecided) && ev.Decision == "allow" {
		s.committing <- struct{}{}
		select {
		case <-ctx.Done():
		case <-s.release:
		}
		s.Recorder.Record(context.WithoutCancel(ctx), ev)
		return ctx.Err()
	}
	return s.Recorder.Record(ctx, ev)
}

// TestCancelledWhileTheAllowCommits: a caller that cancels while its
// call's allow is being committed does not leave an allow on the record
// without a result. The trail may commit the allow after the caller's
// context ended (audit.Log.Record: the event may or may not be in the
// trail); the gateway used to wait for it on that context, so it gave
// up, answered "could not be recorded", and never recorded the result of
// a call the trail says it allowed (and, for an upstream tool, whose slip
// it spent). It now waits for the commit, then records the call as
// cancelled, without running it.
func TestCancelledWhileTheAllowCommits(t *testing.T) {
	for _, method := range []string{"tools/call", "prompts/get"} {
		t.Run(method, func(t *testing.T) {
			ran := make(chan struct{}, 2)
			up := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
			mcp.AddTool(up, &mcp.Tool{Name: "hang", Description: "Answers when cancelled"},
				func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					ran <- struct{}{}
					<-ctx.Done()
					return nil, nil, ctx.Err()
				})
			up.AddPrompt(&mcp.Prompt{Name: "stuck"}, func(ctx context.Context, _ *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				ran <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			})
			o := serveUpstream(t, up, "hang")
			slow := &slowAllow{committing: make(chan struct{}, 1), release: make(chan struct{})}
			o.recorder = func(r audit.Recorder) audit.Recorder { slow.Recorder = r; return slow }
			e := newEnv(t, o)
			alice := e.connect("alice", "acme-assistant", "2025-11-25")
			waitFor(t, "hang listed", func() bool { return slices.Contains(toolNames(t, alice), "hang") })
			waitFor(t, "the prompt listed", func() bool {
				r, err := alice.ListPrompts(context.Background(), nil)
				return err == nil && len(r.Prompts) == 1
			})

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				if method == "tools/call" {
					alice.CallTool(ctx, &mcp.CallToolParams{Name: "hang", Arguments: map[string]any{}})
				} else {
					alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "stuck"})
				}
			}()
			select {
			case <-slow.committing:
			case <-time.After(10 * time.Second):
				t.Fatal("no allow was committed")
			}
			cancel()
			<-done
			// The gateway has had the caller's cancellation by now; the
			// commit then completes.
			time.Sleep(300 * time.Millisecond)
			close(slow.release)

			decided, result := audit.ToolDecided, audit.ToolResult
			if method == "prompts/get" {
				decided, result = audit.FeatureDecided, audit.FeatureResult
			}
			var allow audit.Event
			waitFor(t, "the allow on the record", func() bool {
				for _, ev := range e.mem.all() {
					if ev.Type == decided && ev.Decision == "allow" {
						allow = ev
					}
				}
				return allow.Correlation != ""
			})
			var got audit.Event
			deadline := time.Now().Add(5 * time.Second)
			for got.Type == "" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				for _, ev := range e.mem.all() {
					if ev.Type == result && ev.Correlation == allow.Correlation {
						got = ev
					}
				}
			}
			if got.Status != "cancelled" {
				t.Errorf("the allow on the record has no result saying the call was cancelled: %+v", got)
			}
			select {
			case <-ran:
				t.Error("the upstream ran a request its caller had cancelled before it was sent")
			default:
			}
		})
	}
}
