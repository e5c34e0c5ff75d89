package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestNoLaneOnAClosedUpstream: a call that reaches a per_caller upstream
// after the gateway began closing (or after the upstream was taken out of
// the tenant) is refused without a process of its own being started.
// Before, the upstream's ended supervisor left its session in place, and
// the call opened a lane: a new process was started after closeAll had
// taken and stopped every lane, one nothing waits for and that could
// outlive the gateway.
func TestNoLaneOnAClosedUpstream(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs bytes.Buffer
	g := &Gateway{Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))}
	u := newUpstreams(g)
	g.ups = u
	// An upstream whose program, when started, says so on its stderr
	// (it cannot read its description) and exits.
	missing := filepath.Join(t.TempDir(), "started")
	cfg := store.Upstream{Name: "up", Command: []string{exe, "-gatehouse-test-upstream", missing}, PerCaller: true}
	ctx, cancel := context.WithCancel(u.ctx)
	c := &upConn{cfg: cfg, ctx: ctx, cancel: cancel, session: &mcp.ClientSession{}}
	u.closeAll() // its supervisor ended with it, its session left as it was

	l, release, err := u.laneFor(context.Background(), c, "alice\x00acme-assistant")
	release()
	if l != nil || err == nil {
		t.Fatalf("a call on a closed upstream got %v, %v; want a refusal", l, err)
	}
	// A lane opened is a process started: laneFor waited for it to open
	// or fail, which is noted on c before that (openLane), so nothing
	// needs waiting for here. Its stderr, read on its own, may come later.
	c.mu.Lock()
	opened := len(c.byCaller) > 0 || c.failures > 0
	c.mu.Unlock()
	if opened {
		t.Errorf("a lane was opened for a closed upstream (%d open, %d failed)", len(c.byCaller), c.failures)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "upstream stderr") {
		t.Errorf("a process was started for a closed upstream:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
