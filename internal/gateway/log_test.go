package gateway_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// messages is a slog.Handler that keeps the messages it is given.
type messages struct {
	mu   sync.Mutex
	seen []string
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messages) WithGroup(string) slog.Handler            { return m }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, r.Message)
	return nil
}

func (m *messages) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen)
}

// The MCP SDK narrates every session's life at the information level:
// three lines per request on the stateless revisions. The gateway's log
// keeps the SDK's warnings and errors, not that.
func TestSDKSessionChatterNotLogged(t *testing.T) {
	logs := &messages{}
	e := newEnv(t, envOptions{logger: slog.New(logs)})
	for _, version := range []string{"", "2025-11-25"} { // the newest (stateless), and one with sessions
		cs := e.connect("alice", "acme-assistant", version)
		if res := call(t, cs, "sales_report", map[string]any{"month": "2026-10"}); res.IsError {
			t.Fatalf("%s: %s", version, text(res))
		}
		cs.Close()
	}
	for _, chatter := range []string{"server connecting", "server session connected", "server session disconnected", "session initialized"} {
		if slices.Contains(logs.all(), chatter) {
			t.Errorf("the log has the SDK's %q: %q", chatter, logs.all())
		}
	}
}
