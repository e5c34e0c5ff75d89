package gateway_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// messages is a slog.Handler that keeps the messages it is given, with
// their levels, at whatever level.
type messages struct {
	mu     sync.Mutex
	seen   []string
	levels []slog.Level
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messages) WithGroup(string) slog.Handler            { return m }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, r.Message)
	m.levels = append(m.levels, r.Level)
	return nil
}

func (m *messages) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen)
}

// take returns the records kept so far as "LEVEL message" and forgets
// them.
func (m *messages) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.seen))
	for i, msg := range m.seen {
		out[i] = m.levels[i].String() + " " + msg
	}
	m.seen, m.levels = nil, nil
	return out
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

// TestSDKClientMistakesNotWarnings: a caller breaking the MCP lifecycle
// (a request before initialize, initialize or initialized twice, a
// stateless protocol revision on a session) is answered with an error; the
// MCP SDK logs it at ERROR or WARN, one line per message of a batch. That
// is the caller's mistake, not the gateway's fault: an operator alerting on
// errors would be paged by any client. Such records are debug lines.
func TestSDKClientMistakesNotWarnings(t *testing.T) {
	logs := &messages{}
	e := newEnv(t, envOptions{logger: slog.New(logs)})
	tok := e.token("alice", "acme-assistant")
	const v = "2025-11-25"
	initialize := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + v + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	session := rawSession(t, e, tok, v)
	logs.take()
	for _, m := range []struct{ what, session, version, body string }{
		{"a request before initialize", "", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{"a batch before initialize", "", "2025-03-26", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]`},
		{"initialize twice", session, v, initialize},
		{"initialized twice", session, v, `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{"a stateless revision on a session", session, "2026-07-28", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
	} {
		e.rawMCP(t, tok, m.session, m.version, m.body)
		for _, l := range logs.take() {
			if !strings.HasPrefix(l, "DEBUG ") {
				t.Errorf("%s: logged %q, want a debug line", m.what, l)
			}
		}
	}
}
