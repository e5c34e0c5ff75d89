package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestBodyCutShortRunsNothing: a POST to /mcp whose body ends before its
// framing says it does (a malformed chunk, a connection half-closed before
// its Content-Length) is no message, even when what came of it is a whole
// JSON-RPC request: nothing is decided or run, and the answer is a
// JSON-RPC error saying the body could not be read, as net/http's own
// reading would have made the SDK refuse it.
func TestBodyCutShortRunsNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice", "acme-assistant")
	const version = "2025-06-18"
	session := rawSession(t, e, tok, version)
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sales_report","arguments":{"month":"2026-10"}}}`
	u, _ := url.Parse(e.resource)
	head := "POST /mcp HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + tok +
		"\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: " + session +
		"\r\nMcp-Protocol-Version: " + version + "\r\n"
	decided := func() int {
		n := 0
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolDecided {
				n++
			}
		}
		return n
	}
	for _, tt := range []struct{ name, wire string }{
		{"malformed chunk", head + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\nzz\r\n", len(call), call)},
		{"shorter than its Content-Length", head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(call)+20) + call},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := decided()
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tt.wire)
			c.(*net.TCPConn).CloseWrite() // the client sends nothing more
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if n := decided() - before; n != 0 {
				t.Errorf("%d tools/call decided from a body cut short, want none", n)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"code":-32600`) ||
				!strings.Contains(string(b), "could not be read") {
				t.Errorf("answered %d %s, want 400 with a JSON-RPC error saying the body could not be read", resp.StatusCode, b)
			}
		})
	}
}
