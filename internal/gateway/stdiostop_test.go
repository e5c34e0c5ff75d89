//go:build linux

package gateway_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// slowStopMemoEnv is memoEnv with programs that, as many do, do not exit
// when their stdin closes: stopping each takes the 2 s the gateway waits
// before its SIGTERM.
func slowStopMemoEnv(t *testing.T) (*env, func() int) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := []string{"sh", "-c", `"$0" -gatehouse-test-memo-upstream; exec sleep 600`, exe}
	roles := []string{"sales-manager", "hr"}
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "memo", Upstream: "up", Roles: roles}, {Name: "pid", Upstream: "up", Roles: roles}},
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

// TestPerCallerProcessesStopTogether: closing the gateway stops the
// callers' own processes of a per_caller upstream at once, not one after
// another: with many callers and programs slow to stop, stopping them in
// turn would take their number times as long (64 of them, minutes), past
// what a service manager waits before it kills the gateway.
func TestPerCallerProcessesStopTogether(t *testing.T) {
	e, lanes := slowStopMemoEnv(t)
	who := []string{"alice", "bob", "carol"}
	for i, sub := range who {
		cs := e.connect(sub, "acme-assistant", "2025-11-25")
		if i == 0 {
			waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, cs), "memo") })
		}
		if r := call(t, cs, "pid", nil); r.IsError {
			t.Fatalf("%s's pid: %q", sub, text(r))
		}
	}
	if n := lanes(); n != len(who) {
		t.Fatalf("%d callers' processes, want %d", n, len(who))
	}
	start := time.Now()
	e.gw.Close()
	// The gateway's own process (2 s), then the callers' (2 s) together;
	// in turn, it would be 2 s + 3 × 2 s.
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("closing the gateway took %v, want the callers' processes stopped together", took.Round(time.Millisecond))
	}
}

// TestPerCallerEvictionDoesNotHoldTheCall: when a new caller's call takes
// the place of another caller's idle process, it does not wait for that
// process to stop (2 s and more for a program that does not exit when its
// stdin closes).
func TestPerCallerEvictionDoesNotHoldTheCall(t *testing.T) {
	t.Cleanup(gateway.SetMaxLanes(1))
	e, lanes := slowStopMemoEnv(t)
	alice, carol := e.connect("alice", "acme-assistant", "2025-11-25"), e.connect("carol", "acme-assistant", "2025-11-25")
	waitFor(t, "memo listed", func() bool { return slices.Contains(toolNames(t, alice), "memo") })
	if r := call(t, alice, "pid", nil); r.IsError {
		t.Fatalf("alice's pid: %q", text(r))
	}
	if n := lanes(); n != 1 {
		t.Fatalf("%d callers' processes, want alice's", n)
	}
	start := time.Now()
	if r := call(t, carol, "memo", map[string]any{"set": "carol"}); r.IsError || text(r) != "carol" {
		t.Fatalf("carol's call = %v %q", r.IsError, text(r))
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("carol's call took %v: it waited for alice's idle process to stop", took.Round(time.Millisecond))
	}
}
