package e2e_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// TestShutdownEndsListeningStreams: a server told to stop lets requests
// in flight finish and ends the MCP streams that stay open while their
// clients listen (a session's standalone GET stream): Serve returns
// without running out its grace period, and the client's stream ends.
func TestShutdownEndsListeningStreams(t *testing.T) {
	g := e2e.Start(t, mcpTenant, nil)
	tok := mcpToken(t, g, "alice", "alice-e2e-password")
	send := func(method, body, session string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, g.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json, text/event-stream")
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send(http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, "")
	session := resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if session == "" {
		t.Fatalf("initialize: %d, no session", resp.StatusCode)
	}
	send(http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, session).Body.Close()
	stream := send(http.MethodGet, "", session)
	if stream.StatusCode != 200 { // its handler runs: the stream is open
		t.Fatalf("standalone stream: %d", stream.StatusCode)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stream.Body)
		close(ended)
	}()
	if err := g.Stop(); err != nil {
		t.Errorf("Serve: %v, want a clean stop", err)
	}
	<-ended
}
