package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestMalformedMessagesGetJSONRPCErrors: a message /mcp cannot take is
// answered 400 with a JSON-RPC error in our words (the code JSON-RPC gives
// the fault, the field at fault named, the request's id when it has a
// usable one), not the SDK's decoder talking of Go types; and a
// well-formed call on the same session still works afterwards.
func TestMalformedMessagesGetJSONRPCErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice", "acme-assistant")
	const version = "2025-11-25"
	resp, _ := e.rawMCP(t, tok, "", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	e.rawMCP(t, tok, session, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	cases := []struct {
		name, session, version, body string
		code                         int
		id, says                     string
	}{
		{"cut short", "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize"`, -32700, "null", "not valid JSON"},
		{"not JSON", session, version, `hello`, -32700, "null", "not valid JSON"},
		{"not JSON, stateless", "", "2026-07-28", `{"jsonrpc":`, -32700, "null", "not valid JSON"},
		{"an array of numbers", "", "", `[1,2]`, -32600, "null", "JSON object"},
		{"a batch", session, version, `[{"jsonrpc":"2.0","id":2,"method":"ping"}]`, -32600, "null", "one JSON-RPC message per request"},
		{"null", "", "", `null`, -32600, "null", "JSON object"},
		{"version 1.0", session, version, `{"jsonrpc":"1.0","id":3,"method":"ping"}`, -32600, "3", `"jsonrpc" must be "2.0"`},
		{"no version", session, version, `{"id":"x","method":"tools/list"}`, -32600, `"x"`, `"jsonrpc" must be "2.0"`},
		{"an object id", "", "", `{"jsonrpc":"2.0","id":{"a":1},"method":"initialize","params":{}}`, -32600, "null", `"id" must be a string or a number`},
		{"a number method", session, version, `{"jsonrpc":"2.0","id":4,"method":7}`, -32600, "4", `"method" must be a string`},
		{"unknown method", session, version, `{"jsonrpc":"2.0","id":5,"method":"tools/cal","params":{}}`, -32601, "5", `does not serve "tools/cal"`},
		{"unknown method with a control character", session, version, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"x\\u001b[2J\"}", -32601, "6", `"x\x1b[2J"`},
	}
	for _, c := range cases {
		resp, body := e.rawMCP(t, tok, c.session, c.version, c.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %q, want 400 in JSON: %s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			continue
		}
		var m struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Errorf("%s: the answer is not JSON: %s", c.name, body)
			continue
		}
		if m.JSONRPC != "2.0" || string(m.ID) != c.id || m.Error.Code != c.code || !strings.Contains(m.Error.Message, c.says) {
			t.Errorf("%s: got %s, want code %d, id %s, a message saying %s", c.name, body, c.code, c.id, c.says)
		}
		for _, internal := range []string{"Go value", "Go struct", "jsonrpc2", "interface {}", "unmarshal"} {
			if strings.Contains(m.Error.Message, internal) {
				t.Errorf("%s: the message speaks of the decoder (%q): %s", c.name, internal, m.Error.Message)
			}
		}
	}

	// A 400 about a header keeps its text, as a JSON-RPC error.
	req, _ := http.NewRequest("POST", e.resource, strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", version)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID    json.RawMessage `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	err = json.NewDecoder(hr.Body).Decode(&m)
	hr.Body.Close()
	if hr.StatusCode != http.StatusBadRequest || err != nil || m.Error.Code != -32600 || string(m.ID) != "7" || !strings.Contains(m.Error.Message, "text/event-stream") {
		t.Errorf("a POST accepting no event stream: %d %+v (%v)", hr.StatusCode, m, err)
	}

	// An unknown session is still 404, as clients expect to start anew.
	if resp, body := e.rawMCP(t, tok, "no-such-session", version, `{"jsonrpc":"2.0","id":8,"method":"ping"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: %d %s", resp.StatusCode, body)
	}

	// The session is whole: a call goes through.
	if resp, body := e.rawMCP(t, tok, session, version, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sales_report","arguments":{"month":"2026-10"}}}`); resp.StatusCode != 200 || !strings.Contains(body, `"id":9`) || strings.Contains(body, `"isError":true`) {
		t.Errorf("a call after the refusals: %d %s", resp.StatusCode, body)
	}
}

// TestStatelessUnknownMethodIs404: from 2026-07-28 a method /mcp does not
// serve is answered 404 with the JSON-RPC error -32601, as that revision's
// transport asks (README.md says so), so a client probing for a method
// (server/discover) sees "not here", not a malformed request.
func TestStatelessUnknownMethodIs404(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.token("alice", "acme-assistant")
	resp, body := e.rawMCP(t, tok, "", "2026-07-28", `{"jsonrpc":"2.0","id":1,"method":"frob/nicate","params":{"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}}}`)
	var m struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &m); resp.StatusCode != http.StatusNotFound || err != nil || m.Error.Code != -32601 {
		t.Errorf("an unknown method on 2026-07-28: %d %s, want 404 with -32601", resp.StatusCode, body)
	}
}
