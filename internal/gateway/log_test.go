package gateway_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The MCP SDK narrates every session's life at the information level:
// three lines per request on the stateless revisions. The gateway's log
// keeps the SDK's warnings and errors, not that.
func TestSDKSessionChatterNotLogged(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, envOptions{logger: logger})
	for _, version := range []string{"", "2025-11-25"} { // the newest (stateless), and one with sessions
		cs := e.connect("alice", "acme-assistant", version)
		if res := call(t, cs, "sales_report", map[string]any{"month": "2026-10"}); res.IsError {
			t.Fatalf("%s: %s", version, text(res))
		}
		cs.Close()
	}
	for _, chatter := range []string{"server connecting", "server session connected", "server session disconnected", "session initialized"} {
		if strings.Contains(buf.String(), chatter) {
			t.Errorf("the log has the SDK's %q:\n%s", chatter, buf.String())
		}
	}
}
