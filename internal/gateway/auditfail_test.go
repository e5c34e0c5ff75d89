package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestAuditFailureTellsNoStoreInternals: when the audit trail cannot take
// a call's record, the call is refused (nothing unaudited runs) with a
// message saying so, not the store's own error (table names, database
// errors), which stays in the server's log. Before, the client read the
// SQL error.
func TestAuditFailureTellsNoStoreInternals(t *testing.T) {
	e := newEnv(t, envOptions{realAudit: true})
	cs := e.connect("alice", "acme-assistant", "2025-11-25")
	if _, err := e.st.SQL().Exec("ALTER TABLE audit_log RENAME TO audit_log_gone"); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"sales_report", "payroll_report"} { // an allow, a deny
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"month": "2025-11"}})
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = text(res)
		}
		if !strings.Contains(msg, "could not be recorded in the audit trail") {
			t.Errorf("%s with the trail failing: %q, want it said the call could not be recorded", tool, msg)
		}
		for _, leak := range []string{"audit_log", "SQL", "sqlite", "no such table", "append audit"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s with the trail failing: the client is told %q (names %q)", tool, msg, leak)
				break
			}
		}
	}
	if _, err := cs.ListTools(context.Background(), nil); err == nil || strings.Contains(err.Error(), "audit_log") {
		t.Errorf("tools/list with the trail failing: %v", err)
	}
}
