package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/identity/accesstoken"
	"github.com/gatehouse/gatehouse/internal/store"
)

// rawMCP posts body to /mcp with token, in session (if any) at version
// (if any), and returns the answer.
func (e *env) rawMCP(t *testing.T, token, session, version, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.resource, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestScopeStepUpReadsTheNameAsTheSDK: the step-up check and the call read
// the same tool name, whatever the params' keys play at, and every call of
// a batch is checked. A call refused so is a denied tools/call in the
// trail, as any refusal is.
func TestScopeStepUpReadsTheNameAsTheSDK(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := narrowedFrank(t, e)
	const version = "2025-03-26" // the newest revision with JSON-RPC batches
	session := rawSession(t, e, tok, version)

	lastDecision := func() audit.Event {
		var last audit.Event
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolDecided {
				last = ev
			}
		}
		return last
	}
	callMsg := func(id, params string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":` + params + `}`
	}
	args := `"arguments":{"month":"2026-10"}`
	for _, tt := range []struct {
		name, body string
		stepUp     string // the scopes the 403 adds; "" = no 403
		ran        string // the tool decided and run, when no 403
	}{
		{"exact", callMsg("1", `{"name":"payroll_report",`+args+`}`), "", "payroll_report"},
		{"out of scope", callMsg("2", `{"name":"sales_report",`+args+`}`), "tool:sales_report", ""},
		// The SDK matches keys case-sensitively: NAME is no name.
		{"case variant after", callMsg("3", `{"name":"sales_report","NAME":"payroll_report",`+args+`}`), "tool:sales_report", ""},
		{"case variant before", callMsg("4", `{"NAME":"sales_report","name":"payroll_report",`+args+`}`), "", "payroll_report"},
		{"case variant kept", callMsg("5", `{"name":"payroll_report","Name":"sales_report",`+args+`}`), "", "payroll_report"},
		{"folding variant", callMsg("6", `{"name":"payroll_report","ſame":"sales_report",`+args+`}`), "", "payroll_report"},
		// Of two name keys, the SDK takes the last.
		{"duplicate, last out of scope", callMsg("7", `{"name":"payroll_report","name":"sales_report",`+args+`}`), "tool:sales_report", ""},
		{"duplicate, last in scope", callMsg("8", `{"name":"sales_report","n\u0061me":"payroll_report",`+args+`}`), "", "payroll_report"},
		// A batch: every call is checked, and all missing scopes named.
		{"batch", `[` + callMsg("9", `{"name":"payroll_report",`+args+`}`) + `,` + callMsg("10", `{"name":"sales_report",`+args+`}`) + `]`, "tool:sales_report", ""},
		{"batch in scope", `[` + callMsg("11", `{"name":"payroll_report",`+args+`}`) + `]`, "", "payroll_report"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := lastDecision()
			resp, body := e.rawMCP(t, tok, session, version, tt.body)
			got := resp.Header.Get("WWW-Authenticate")
			if tt.stepUp != "" {
				if resp.StatusCode != 403 || !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="openid tool:payroll_report `+tt.stepUp+`"`) {
					t.Errorf("%d %q, want 403 insufficient_scope adding %s", resp.StatusCode, got, tt.stepUp)
				}
				// Nothing ran, and the refusal is in the trail before the
				// 403: a denied call of the tool out of scope.
				d := lastDecision()
				if d.Correlation == before.Correlation || d.Decision != "deny" || d.Policy != gateway.PolicyTokenScope ||
					"tool:"+d.Tool != tt.stepUp || d.ArgsDigest == "" {
					t.Errorf("after the 403, the trail's last decision is %+v, want %s denied by %s", d, tt.stepUp, gateway.PolicyTokenScope)
				}
				notRun := 0
				for _, ev := range e.mem.all() {
					if ev.Type == audit.ToolResult && ev.Correlation == d.Correlation {
						t.Errorf("a call ran after the 403: %+v", ev)
					}
					if ev.Type == audit.ToolDecided && ev.Tool == "payroll_report" && ev.Decision == "deny" && strings.Contains(strings.Join(ev.Reasons, " "), "not run: its batch") {
						notRun++
					}
				}
				// The batch's call in scope did not run either, and says so.
				if want := strings.Count(tt.body, "payroll_report"); tt.name == "batch" && notRun != want {
					t.Errorf("the batch's call in scope: %d records of it not run, want %d", notRun, want)
				}
				return
			}
			if resp.StatusCode != 200 || strings.Contains(body, "Sorry") || strings.Contains(body, `"isError":true`) {
				t.Fatalf("%d %q: %s", resp.StatusCode, got, body)
			}
			if d := lastDecision(); d.Correlation == before.Correlation || d.Tool != tt.ran || d.Decision != "allow" {
				t.Errorf("decided %s %s, want %s allowed", d.Tool, d.Decision, tt.ran)
			}
		})
	}
}

// TestBatchesBounded: a JSON-RPC batch of more than 32 messages is refused
// whole, whoever sends it, before any of its calls is decided or recorded
// (one request could otherwise write a record per call, tens of thousands
// of them); and a batch sent under a revision whose SDK refuses batches is
// not read for the token's scope either: no 403, nothing recorded.
func TestBatchesBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	narrowed := narrowedFrank(t, e)
	open := func(tok, version string) string { return rawSession(t, e, tok, version) }
	batch := func(n int) string {
		calls := make([]string, n)
		for i := range calls {
			calls[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"sales_report","arguments":{"month":"2026-10"}}}`, i+1)
		}
		return "[" + strings.Join(calls, ",") + "]"
	}
	decisions := func() int {
		n := 0
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolDecided {
				n++
			}
		}
		return n
	}
	for _, tt := range []struct {
		name, token, version, body string
		status                     int
		says                       string
	}{
		{"too many, narrowed token", narrowed, "2025-03-26", batch(33), 400, "at most 32 messages"},
		{"too many", e.token("alice", "acme-assistant"), "2025-03-26", batch(5000), 400, "at most 32 messages"},
		{"a batch the revision refuses", narrowed, "2025-11-25", batch(2), 400, "not a batch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			session := open(tt.token, tt.version)
			before := decisions()
			resp, body := e.rawMCP(t, tt.token, session, tt.version, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.says) {
				t.Errorf("%d %q, want %d saying %q", resp.StatusCode, body, tt.status, tt.says)
			}
			// In JSON-RPC, as any message /mcp cannot take.
			var msg struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Error   struct{ Code int }
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil || msg.JSONRPC != "2.0" || string(msg.ID) != "null" || msg.Error.Code != -32600 {
				t.Errorf("not a JSON-RPC Invalid Request error: %v %q", err, body)
			}
			if got := decisions() - before; got != 0 {
				t.Errorf("%d calls of the refused batch decided and recorded", got)
			}
		})
	}
	// A batch within the bound still runs, call by call.
	alice := e.token("alice", "acme-assistant")
	session := open(alice, "2025-03-26")
	before := decisions()
	if resp, body := e.rawMCP(t, alice, session, "2025-03-26", batch(32)); resp.StatusCode != 200 || strings.Contains(body, `"isError":true`) {
		t.Errorf("a batch of 32: %d %s", resp.StatusCode, body)
	}
	if got := decisions() - before; got != 32 {
		t.Errorf("a batch of 32: %d calls decided, want 32", got)
	}
}

// narrowedFrank adds frank, who may call both demo tools, and returns a
// token of his narrowed to payroll_report.
func narrowedFrank(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	if err := e.st.Users().Create(ctx, store.User{Username: "frank", Roles: []string{"sales-manager", "hr"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	return e.token("frank", "acme-assistant", func(c *accesstoken.Claims) { c.Scope = "openid tool:payroll_report" })
}

// rawSession initializes an MCP session with tok on the protocol version
// given, by hand, and returns its ID.
func rawSession(t *testing.T, e *env, tok, version string) string {
	t.Helper()
	resp, _ := e.rawMCP(t, tok, "", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	e.rawMCP(t, tok, session, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return session
}
