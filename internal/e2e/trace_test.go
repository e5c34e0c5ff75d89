package e2e_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/e2e"
)

// One query shows a tool call's whole chain: alice signs in through the
// Go SDK's OAuth client, her agent calls a tool, and the admin API's trace
// (and `gatehouse audit trace`) of the call's correlation answers her
// sign-in, the token, the decision, the slip, its redemption and the
// result, in order.
func TestAuditTraceOfACall(t *testing.T) {
	g := e2e.Start(t, adminTenant, nil)
	root := adminToken(t, g, "root", "root-e2e-password")
	token := mcpToken(t, g, "alice", "alice-e2e-password")
	ctx := t.Context()
	cs := mcpConnect(ctx, t, g, "gatehouse-e2e-trace", token)
	defer cs.Close()
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "sales_report", Arguments: json.RawMessage(mcpMonth)}); err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	_, decisions, body := adminGet(t, g, root, "type="+audit.ToolDecided+"&actor=alice")
	if len(decisions.Entries) != 1 {
		t.Fatalf("alice's decisions: %s", body)
	}
	corr := decisions.Entries[0].Event.Correlation

	want := []string{audit.LoginSucceeded, audit.TokenIssued, audit.ToolDecided, audit.SlipMinted, audit.SlipRedeemed, audit.ToolResult}
	var trace adminPage
	status, body := adminDo(t, g, "GET", root, "/admin/api/audit/trace?correlation="+corr, &trace)
	if status != 200 {
		t.Fatalf("trace: %d %s", status, body)
	}
	var types []string
	for _, e := range trace.Entries {
		types = append(types, e.Event.Type)
		if e.Event.Actor != "alice" || e.Event.Session != trace.Entries[0].Event.Session {
			t.Errorf("%s of %q in session %q, want alice's session %q", e.Event.Type, e.Event.Actor, e.Event.Session, trace.Entries[0].Event.Session)
		}
	}
	if !slices.Equal(types, want) {
		t.Fatalf("trace %v, want %v", types, want)
	}

	// The same from the command line, on the data folder.
	var out, stderr bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	if code := cli.Run(env, []string{"audit", "trace", corr, "--data", g.Data}); code != 0 {
		t.Fatalf("gatehouse audit trace: exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("gatehouse audit trace printed %d lines:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, want[i]) {
			t.Errorf("line %d %q, want %s", i+1, l, want[i])
		}
	}
	out.Reset()
	if code := cli.Run(env, []string{"audit", "trace", "no-such-call", "--data", g.Data}); code != 1 || out.Len() != 0 {
		t.Errorf("an unknown correlation: exit %d, %q", code, out.String())
	}

	alice := adminToken(t, g, "alice", "alice-e2e-password")
	for _, r := range []struct {
		name, token, query string
		status             int
		want               string
	}{
		{"no correlation", root, "", 400, "correlation is required"},
		{"unknown parameter", root, "correlation=" + corr + "&actor=alice", 400, "unknown parameter"},
		{"twice", root, "correlation=" + corr + "&correlation=x", 400, "given 2 times"},
		{"unknown correlation", root, "correlation=no-such-call", 200, `{"entries":[]}`},
		{"not an admin", alice, "correlation=" + corr, 403, "admin role"},
		{"no token", "", "correlation=" + corr, 401, "resource_metadata"},
	} {
		status, body := adminDo(t, g, "GET", r.token, "/admin/api/audit/trace?"+r.query, nil)
		if status != r.status || !strings.Contains(body, r.want) {
			t.Errorf("%s: %d %q; want %d with %q", r.name, status, body, r.status, r.want)
		}
	}
	// Each trace read is recorded, with what was traced.
	_, reads, _ := adminGet(t, g, root, "type="+audit.AuditRead+"&limit=1000")
	traced := 0
	for _, e := range reads.Entries {
		if strings.Contains(string(e.Raw), `"trace":"`+corr+`"`) {
			traced++
		}
	}
	if traced < 1 {
		t.Errorf("no audit.read of the trace: %d reads", len(reads.Entries))
	}
}
