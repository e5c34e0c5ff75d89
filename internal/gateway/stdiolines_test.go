//go:build linux

package gateway_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestStdioUpstreamAnswerBounded: a stdio upstream's answer past 16 MiB
// fails that call with a clear error, as an HTTP upstream's does
// (TestUpstreamAnswerBounded); the process is neither stopped nor started
// again, and another caller's call running at the time is answered.
func TestStdioUpstreamAnswerBounded(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{"sales-manager"}
	var tools []store.Tool
	for _, name := range []string{"huge", "pid", "slow", "slowcalls", "release"} {
		tools = append(tools, store.Tool{Name: name, Upstream: "up", Roles: roles})
	}
	e := newEnv(t, envOptions{tools: tools,
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-stall-upstream"}}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "huge listed", func() bool { return slices.Contains(toolNames(t, alice), "huge") })
	pid := text(call(t, alice, "pid", nil))

	slow := make(chan string, 1)
	go func() {
		r, err := carol.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow"})
		switch {
		case err != nil:
			slow <- err.Error()
		default:
			slow <- text(r)
		}
	}()
	// Carol's call is under way: the upstream holds it until released,
	// after alice's answer past the bound.
	waitFor(t, "carol's call at the upstream", func() bool { return text(call(t, alice, "slowcalls", nil)) == "1" })

	res, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "huge", Arguments: map[string]any{"n": 17 << 20}})
	var got string
	switch {
	case err != nil:
		got = err.Error()
	case res.IsError:
		got = text(res)
	default:
		t.Fatalf("huge answered %d bytes, not an error", len(text(res)))
	}
	if !strings.Contains(got, "larger than 16 MiB") {
		t.Errorf("huge failed with %q, want the bound named", got)
	}
	call(t, alice, "release", nil)
	if s := <-slow; s != "slow done" {
		t.Errorf("another caller's call running meanwhile: %q, want it answered", s)
	}
	// Within the bound, a large answer passes whole.
	if r := call(t, alice, "huge", map[string]any{"n": 15 << 20}); r.IsError || len(text(r)) != 15<<20 {
		t.Errorf("an answer of 15 MiB: IsError=%v, %d bytes", r.IsError, len(text(r)))
	}
	if after := text(call(t, alice, "pid", nil)); after != pid {
		t.Errorf("the upstream's process was %s, now %s: it was started again", pid, after)
	}
	for _, u := range e.gw.Upstreams() {
		if u.Restarts != 0 || !u.Connected {
			t.Errorf("upstream %s: connected %v after %d restarts (%s)", u.Name, u.Connected, u.Restarts, u.LastError)
		}
	}
}

// TestStdioUpstreamRequestBounded: a request of a stdio upstream's past
// 16 MiB (here an elicitation) is answered back to the upstream with an
// error naming the bound, rather than dropped, which left the upstream
// waiting for an answer until its own timeout (the call's, at best).
func TestStdioUpstreamRequestBounded(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tools := []store.Tool{{Name: "askhuge", Upstream: "up", Roles: []string{"sales-manager"}}}
	e := newEnv(t, envOptions{tools: tools,
		upstreams: []store.Upstream{{Name: "up", Command: []string{exe, "-gatehouse-test-stall-upstream"}, CallTimeout: time.Minute}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "askhuge listed", func() bool { return slices.Contains(toolNames(t, alice), "askhuge") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "askhuge", Arguments: map[string]any{"n": 17 << 20}})
	if err != nil {
		t.Fatalf("the call failed (the upstream's request was not answered?): %v", err)
	}
	if got := text(res); !strings.Contains(got, "larger than 16 MiB") {
		t.Errorf("the upstream's question past the bound was answered %q, want the bound named", got)
	}
}
