//go:build linux

package gateway_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestStdioUpstreamStopsWhatItStarted: a stdio upstream whose program
// leaves a child of its own behind, holding its stdout and stderr (sh -c
// "helper & server"), is stopped whole. Once the gateway has closed, the
// children of its own process and of a caller's process are gone, and no
// goroutine is left waiting for their pipes in exec.Cmd.Wait.
func TestStdioUpstreamStopsWhatItStarted(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pids := t.TempDir() + "/pids"
	// The child is sh's: once sh becomes the server, it is the server's.
	command := []string{"sh", "-c", `sleep 300 & echo $! >> "$1"; exec "$0" -gatehouse-test-upstream`, exe, pids}
	waiting := cmdWaits()
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: command, PerCaller: true}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "pid listed", func() bool { return slices.Contains(toolNames(t, alice), "pid") })
	if r := call(t, alice, "pid", nil); r.IsError {
		t.Fatalf("pid on alice's own process: %q", text(r))
	}
	var children []int
	waitFor(t, "the children of both processes", func() bool {
		b, _ := os.ReadFile(pids)
		children = children[:0]
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("pids file: %q", b)
			}
			children = append(children, pid)
		}
		return len(children) == 2
	})
	t.Cleanup(func() {
		for _, pid := range children {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	for _, pid := range children {
		if !processAlive(pid) {
			t.Fatalf("child %d is not running before the gateway closes", pid)
		}
	}
	e.gw.Close()
	// Close has signalled the groups; the Wait of each process returns
	// once its group is gone (or after its WaitDelay), not stuck for good.
	waitFor(t, "no goroutine left in exec.Cmd.Wait", func() bool { return cmdWaits() <= waiting })
	for _, pid := range children {
		waitFor(t, "child "+strconv.Itoa(pid)+" to end", func() bool { return !processAlive(pid) })
	}
}

// TestStdioLeaderExitEndsItsGroup: when a stdio upstream's program dies
// while a child of its own holds its stdout, the child is stopped at once
// and the upstream restarted, without waiting for a ping to fail (pings
// are set far off here).
func TestStdioLeaderExitEndsItsGroup(t *testing.T) {
	defer gateway.SetUpstreamPing(time.Hour)()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pids, leaders := dir+"/pids", dir+"/leaders"
	command := []string{"sh", "-c", `sleep 300 & echo $! >> "$1"; echo $$ >> "$2"; exec "$0" -gatehouse-test-upstream`, exe, pids, leaders}
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: command}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	read := func(path string) []int {
		b, _ := os.ReadFile(path)
		var out []int
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	var child, leader int
	waitFor(t, "the child and the leader", func() bool {
		c, l := read(pids), read(leaders)
		if len(c) == 0 || len(l) == 0 {
			return false
		}
		child, leader = c[0], l[0]
		return true
	})
	t.Cleanup(func() {
		for _, pid := range read(pids) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead leader's child stopped", func() bool { return !processAlive(child) })
	waitFor(t, "the upstream restarted", func() bool {
		for _, u := range e.gw.Upstreams() {
			if u.Name == "up" && u.Restarts > 0 && u.Connected {
				return true
			}
		}
		return false
	})
}

// TestStdioUpstreamWorkingDirectory: a stdio upstream runs in the root,
// not in the gateway's working directory (where its data folder and master
// key file usually are); a program named by a path relative to the
// gateway's working directory is still found there.
func TestStdioUpstreamWorkingDirectory(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := "#!/bin/sh\npwd > \"$1\"\nexec \"$2\" -gatehouse-test-upstream\n"
	if err := os.WriteFile(filepath.Join(dir, "server"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	out := filepath.Join(t.TempDir(), "cwd")
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: []string{"./server", out, exe}}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "/" {
		t.Errorf("the upstream's working directory is %q (the gateway's is %q), want /", got, dir)
	}
}

// cmdWaits counts the goroutines in exec.Cmd.Wait.
func cmdWaits() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "os/exec.(*Cmd).Wait(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// processAlive reports whether process pid runs (a zombie has ended).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	state := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(state) > 0 && state[0] != "Z"
}

// TestStdioCloseOutlivesNoGroupMember: a child a stdio upstream's program
// left behind that ignores SIGTERM is gone once the gateway's Close has
// returned. Close used to signal the group and leave its SIGKILL to a
// timer: 'serve' returns and the process exits right after Close, the
// timer with it, and the child went on running, orphaned.
func TestStdioCloseOutlivesNoGroupMember(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pids := t.TempDir() + "/pids"
	// An ignored signal stays ignored across exec: sleep ignores SIGTERM.
	command := []string{"sh", "-c", `(trap "" TERM; exec sleep 300) & echo $! >> "$1"; exec "$0" -gatehouse-test-upstream`, exe, pids}
	e := newEnv(t, envOptions{tools: upstreamTools("sales-manager"),
		upstreams: []store.Upstream{{Name: "up", Command: command}}})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	var child int
	waitFor(t, "the child", func() bool {
		b, _ := os.ReadFile(pids)
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	if !processAlive(child) {
		t.Fatalf("child %d is not running before the gateway closes", child)
	}
	e.gw.Close()
	// A SIGKILL sent takes a moment to end the process; far less than the
	// grace after which a timer would send it.
	for end := time.Now().Add(500 * time.Millisecond); processAlive(child); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("child %d, which ignores SIGTERM, still runs once Close has returned: the process exiting now leaves it orphaned", child)
		}
	}
}
