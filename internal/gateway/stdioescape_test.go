//go:build linux

package gateway_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestStdioLeaderExitFailsCallsDespiteEscapedChild: when a stdio
// upstream's program dies during a call while a child of its own that left
// its process group (setsid) still holds its stdout, the call fails
// promptly and the upstream is started again, without waiting for a ping
// to fail (pings are set far off here) or for the call's bound (minutes).
// The output never ends while the child holds it, so the connection must
// be ended once the program has gone, not when its output does.
func TestStdioLeaderExitFailsCallsDespiteEscapedChild(t *testing.T) {
	defer gateway.SetUpstreamPing(time.Hour)()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pids := t.TempDir() + "/pids"
	command := []string{"sh", "-c", `setsid sleep 300 & echo $! >> "$1"; exec "$0" -gatehouse-test-upstream`, exe, pids}
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: command}}})
	t.Cleanup(func() {
		b, _ := os.ReadFile(pids)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	cs := e.connect("alice", "acme-assistant", "")
	waitFor(t, "crash listed", func() bool { return slices.Contains(toolNames(t, cs), "crash") })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash"})
	if err != nil {
		t.Fatalf("crash: no answer after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if !r.IsError {
		t.Errorf("crash = %q, want an error", text(r))
	}
	waitFor(t, "a restart", func() bool {
		for _, u := range e.gw.Upstreams() {
			if u.Name == "up" && u.Restarts > 0 && u.Connected {
				return true
			}
		}
		return false
	})
}
