package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The test binary also serves as a stdio upstream that writes stray lines
// on its stdout: a banner before its first message, and before each
// message an empty line, a blank one, a log line that begins with '['
// and one written in two pieces; each message is written in pieces too.
// With the argument "json", it also writes a JSON log record (valid JSON,
// no JSON-RPC message) before each message; with "line" and a line, that
// line.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "-gatehouse-test-noisy-upstream" {
		var extra string
		switch {
		case len(os.Args) > 2 && os.Args[2] == "json":
			extra = `{"level":30,"msg":"handled"}`
		case len(os.Args) > 3 && os.Args[2] == "line":
			extra = os.Args[3]
		}
		runNoisyUpstream(extra)
		os.Exit(0)
	}
}

type noisyStdout struct {
	extra string // a line written before each message too
}

func (n noisyStdout) Write(p []byte) (int, error) {
	noise := []string{"\n", "  \t\r\n", "[INFO] handled a request\n", "Listening on ", "stdio\n"}
	if n.extra != "" {
		noise = append(noise, n.extra+"\n")
	}
	for _, s := range noise {
		if _, err := os.Stdout.WriteString(s); err != nil {
			return 0, err
		}
	}
	// The message in three writes, a moment apart: the gateway may well
	// read each piece on its own.
	for rest := p; len(rest) > 0; {
		k := min(len(rest), len(p)/3+1)
		if _, err := os.Stdout.Write(rest[:k]); err != nil {
			return 0, err
		}
		rest = rest[k:]
		time.Sleep(time.Millisecond)
	}
	return len(p), nil
}

func runNoisyUpstream(extra string) {
	fmt.Println("Server started")
	s := mcp.NewServer(&mcp.Implementation{Name: "noisy", Version: "1"}, nil)
	addEcho(s, "Echoes its text")
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "The server's process ID"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(os.Getpid())}}}, nil, nil
		})
	t := &mcp.IOTransport{Reader: os.Stdin, Writer: nopWriteCloser{noisyStdout{extra: extra}}}
	if err := s.Run(context.Background(), t); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// noisyUpstream runs the noisy upstream behind a gateway, calls it, and
// checks that the stray lines cost no call and no restart, and that each
// is logged at warn, naming what it was.
func noisyUpstream(t *testing.T, args []string, want []string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{mu: &sync.Mutex{}}
	roles := []string{"sales-manager"}
	e := newEnv(t, envOptions{
		tools:     []store.Tool{{Name: "echo", Upstream: "up", Roles: roles}, {Name: "pid", Upstream: "up", Roles: roles}},
		upstreams: []store.Upstream{{Name: "up", Command: append([]string{exe, "-gatehouse-test-noisy-upstream"}, args...)}},
		logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	waitFor(t, "the stdio upstream", connected(e, "up"))
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	waitFor(t, "echo listed", func() bool { return slices.Contains(toolNames(t, alice), "echo") })
	pid := text(call(t, alice, "pid", nil))
	for i := range 5 {
		msg := fmt.Sprintf("hello %d {\"with\":\"json\"}", i)
		if got := text(call(t, alice, "echo", map[string]any{"text": msg})); got != msg {
			t.Errorf("echo answered %q, want %q", got, msg)
		}
	}
	if after := text(call(t, alice, "pid", nil)); after != pid {
		t.Errorf("the upstream's process was %s, now %s: it was started again", pid, after)
	}
	for _, u := range e.gw.Upstreams() {
		if u.Restarts != 0 || !u.Connected {
			t.Errorf("upstream %s: connected %v after %d restarts (%s)", u.Name, u.Connected, u.Restarts, u.LastError)
		}
	}
	got := logs.String()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the log does not name the stray line %s:\n%s", w, got)
		}
	}
	if strings.Contains(got, `"text":""`) {
		t.Errorf("an empty or blank line was logged:\n%s", got)
	}
}

// TestStdioUpstreamStrayLinesSkipped: a stdio upstream that writes lines
// that are no JSON-RPC message on its stdout (a banner, a log line, an
// empty line), before its first message and between the others, and
// writes each message in pieces, is served: the lines are skipped and
// logged at warn, the calls answered, the process not started again.
func TestStdioUpstreamStrayLinesSkipped(t *testing.T) {
	noisyUpstream(t, nil, []string{`"text":"Server started"`, `"text":"[INFO] handled a request"`, `"text":"Listening on stdio"`})
}

// TestStdioUpstreamJSONLogLinesSkipped: a line of valid JSON that is no
// JSON-RPC message (a JSON logger's record on stdout) is skipped and
// logged as the other stray lines are, rather than failing the
// connection, every call on it and restarting the process.
func TestStdioUpstreamJSONLogLinesSkipped(t *testing.T) {
	noisyUpstream(t, []string{"json"}, []string{`"text":"{\"level\":30,\"msg\":\"handled\"}"`})
}

// TestStdioUpstreamUndecodableLinesSkipped: a line of JSON with a
// "jsonrpc" member that is still no message the SDK decodes (no method
// and no ID, a response without its ID or with an ID that is none, a
// batch of what are no messages) is skipped and logged as the other
// stray lines are, rather than failing the connection, every call on it
// and restarting the process.
func TestStdioUpstreamUndecodableLinesSkipped(t *testing.T) {
	for _, line := range []string{
		`{"jsonrpc":"2.0"}`,
		`{"jsonrpc":"2.0","result":{}}`,
		`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`,
		`{"jsonrpc":"2.0","id":{"n":1},"result":{}}`,
		`{"jsonrpc":"1.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","method":7}`,
		`{"jsonrpc":"2.0","id":1,"error":"boom"}`,
		`[{"level":30}]`,
		`[{"jsonrpc":"2.0","method":"notifications/message"},{"jsonrpc":"2.0"}]`,
	} {
		t.Run(line, func(t *testing.T) {
			quoted, err := json.Marshal(line)
			if err != nil {
				t.Fatal(err)
			}
			noisyUpstream(t, []string{"line", line}, []string{`"text":` + string(quoted)})
		})
	}
}
