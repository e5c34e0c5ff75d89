//go:build linux

package gateway_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The test binary also serves as a stdio upstream that stops reading its
// stdin once its "stall" tool is called (a program wedged on something
// else, or a hostile one): it stays alive, its stdin pipe fills up. Its
// "huge" tool answers as many bytes as asked, "askhuge" asks its caller a
// question that long, "slow" answers once "release" is called (or after
// a minute), and "slowcalls" tells how many slow calls have begun.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "-gatehouse-test-stall-upstream" {
		runStallUpstream()
		os.Exit(0)
	}
}

var (
	stdinStalled atomic.Bool
	slowCalls    atomic.Int64
	slowRelease  = make(chan struct{})
	releaseOnce  sync.Once
)

type stallingReader struct{ r io.Reader }

func (s stallingReader) Read(p []byte) (int, error) {
	if stdinStalled.Load() {
		select {} // never reads again
	}
	return s.r.Read(p)
}

func runStallUpstream() {
	s := mcp.NewServer(&mcp.Implementation{Name: "stall", Version: "1"}, nil)
	addEcho(s, "Echoes its text")
	mcp.AddTool(s, &mcp.Tool{Name: "stall", Description: "Stops reading stdin"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			stdinStalled.Store(true)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "stalled"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "The server's process ID"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(os.Getpid())}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "huge", Description: "Answers n bytes of text"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			N int `json:"n"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("y", in.N)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "askhuge", Description: "Asks its caller a question of n bytes"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			N int `json:"n"`
		}) (*mcp.CallToolResult, any, error) {
			_, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: strings.Repeat("q", in.N),
				RequestedSchema: &jsonschema.Schema{Type: "object"}})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint("asked: ", err)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Answers when released"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			slowCalls.Add(1)
			select {
			case <-slowRelease:
			case <-time.After(time.Minute):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slow done"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "release", Description: "Lets the slow calls answer"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			releaseOnce.Do(func() { close(slowRelease) })
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "released"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slowcalls", Description: "How many slow calls have begun"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(slowCalls.Load())}}}, nil, nil
		})
	t := &mcp.IOTransport{Reader: io.NopCloser(stallingReader{os.Stdin}), Writer: os.Stdout}
	if err := s.Run(context.Background(), t); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestStdioUpstreamThatStopsReadingStdin: a stdio upstream that stays
// alive but stops reading its stdin must not hold a call past the
// upstream's call_timeout, nor wedge the upstream (and every later call
// to it) for good, nor keep the gateway from closing.
func TestStdioUpstreamThatStopsReadingStdin(t *testing.T) {
	defer gateway.SetUpstreamPing(3 * time.Second)()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{"sales-manager"}
	e := newEnv(t, envOptions{
		tools: []store.Tool{{Name: "echo", Upstream: "up", Roles: roles}, {Name: "stall", Upstream: "up", Roles: roles},
			{Name: "pid", Upstream: "up", Roles: roles}},
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-stall-upstream"}, CallTimeout: 5 * time.Second}},
	})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "stall listed", func() bool { return slices.Contains(toolNames(t, alice), "stall") })
	pid, err := strconv.Atoi(text(call(t, alice, "pid", nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happens below, the child goes in the end, so that the
	// gateway's blocked write fails and the test can finish.
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	// More than a pipe holds (64 KiB on Linux), and passed through well
	// while the upstream reads.
	big := strings.Repeat("x", 1<<20)
	if r := call(t, alice, "echo", map[string]any{"text": big}); r.IsError || len(text(r)) != len(big) {
		t.Fatalf("echo of 1 MiB before the stall: IsError=%v, %d bytes %.200q", r.IsError, len(text(r)), text(r))
	}
	if r := call(t, alice, "stall", nil); text(r) != "stalled" {
		t.Fatalf("stall: %q", text(r))
	}

	done := make(chan *mcp.CallToolResult, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": big}})
		if err != nil {
			errc <- err
			return
		}
		done <- r
	}()
	select {
	case r := <-done:
		t.Logf("the call ended: IsError=%v %.200q", r.IsError, text(r))
	case err := <-errc:
		t.Logf("the call ended: %v", err)
	case <-time.After(15 * time.Second):
		t.Errorf("a call to an upstream that stopped reading its stdin was not answered within 15s (call_timeout 5s)")
	}

	// Pings every 3s: the wedged session is noticed and the upstream
	// restarted.
	waitFor(t, "the wedged upstream restarted", func() bool {
		for _, u := range e.gw.Upstreams() {
			if u.Name == "up" && u.Restarts > 0 {
				t.Logf("connected=%v restarts=%d last error %q", u.Connected, u.Restarts, u.LastError)
				return true
			}
		}
		return false
	})

	closed := make(chan struct{})
	go func() {
		e.gw.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Errorf("Gateway.Close did not return within 15s while a write to the upstream's stdin was blocked")
		syscall.Kill(pid, syscall.SIGKILL)
		select {
		case <-closed:
			t.Logf("Gateway.Close returned once the upstream process was killed")
		case <-time.After(15 * time.Second):
			t.Errorf("Gateway.Close still blocked after the upstream process was killed")
		}
	}
}
