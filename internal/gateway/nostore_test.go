package gateway_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMCPAnswersAreNotStored: what /mcp answers (tool results: a payroll
// report, say) is marked no-store, not the SDK's no-cache, which lets a
// cache, a browser's own among them, keep a copy: the answer to an
// initialize, to a tools/call, and the session's GET stream. no-transform
// stays, so that no proxy rewrites an event stream.
func TestMCPAnswersAreNotStored(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice", "acme-assistant")
	check := func(what string, resp *http.Response) {
		t.Helper()
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store, no-transform" {
			t.Errorf("%s: %d, Cache-Control %q", what, resp.StatusCode, cc)
		}
	}
	resp := postMCP(t, e, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	resp.Body.Close()
	check("initialize", resp)
	id := resp.Header.Get("Mcp-Session-Id")
	if id == "" {
		t.Fatal("no session")
	}
	do := func(method, body string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		resp, err := http.DefaultClient.Do(sessionRequest(e, tok, id, method, body).WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	do("POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := do("POST", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sales_report","arguments":{"month":"2026-10","region":"emea"}}}`)
	line, _ := bufio.NewReader(call.Body).ReadString('\n')
	if call.StatusCode != 200 {
		t.Fatalf("tools/call: %d %q", call.StatusCode, line)
	}
	check("tools/call", call)
	check("the GET stream", do("GET", ""))
	// A refusal too (another origin's page, 403).
	req, _ := http.NewRequest("POST", e.resource, strings.NewReader(`{}`))
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden || r.Header.Get("Cache-Control") != "no-store, no-transform" {
			t.Errorf("another origin: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
}
