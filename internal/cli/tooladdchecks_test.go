package cli_test

import (
	"strings"
	"testing"
)

// TestToolAddChecksAsTheTenantFile: 'tool add' refuses what the tenant
// file refuses: an input schema the gateway cannot check arguments
// against (it would withhold the tool, found out only by the person it is
// granted to), and --upstream-tool without --upstream. Nothing is added.
func TestToolAddChecksAsTheTenantFile(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tool", "add", "refund", "--builtin", "sales_report", "--input-schema", `{"type":"object","required":"amount"}`}, "--input-schema"},
		{[]string{"tool", "add", "refund", "--builtin", "sales_report", "--input-schema", `{"type":"object","properties":{"amount":{"$ref":"#/nowhere"}}}`}, "--input-schema"},
		{[]string{"tool", "add", "refund", "--builtin", "sales_report", "--upstream-tool", "refund"}, "--upstream-tool"},
	} {
		r := run(t, nil, "", append(c.args, d...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q", c.args, r.code, r.stderr)
		}
	}
	if l := must(t, run(t, nil, "", append([]string{"tool", "list"}, d...)...)).stdout; strings.Contains(l, "refund") {
		t.Errorf("a refused tool was added:\n%s", l)
	}
	// A schema the gateway can use is still taken.
	must(t, run(t, nil, "", append([]string{"tool", "add", "refund", "--builtin", "sales_report",
		"--input-schema", `{"type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}`}, d...)...))
}
