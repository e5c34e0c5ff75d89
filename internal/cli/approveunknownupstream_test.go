package cli_test

import (
	"strings"
	"testing"
)

// TestUpstreamApproveNamesAnUnknownUpstream: 'upstream approve' of an
// upstream that does not exist (a mistyped name, or a tool's name given
// for the upstream's) is refused as such, as 'upstream review' and 'tool
// approve' refuse theirs: not answered "nothing awaits approval" with exit
// 0, which reads as the definition being approved already, nor refused as
// a stale approval recorded in the audit trail. Nothing is recorded.
func TestUpstreamApproveNamesAnUnknownUpstream(t *testing.T) {
	data := t.TempDir()
	d := []string{"--data", data}
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, d...)...)) }
	c("upstream", "add", "crm", "--url", "http://127.0.0.1:1/mcp")
	c("tool", "add", "lookup", "--upstream", "crm")
	before := c("audit", "export").stdout
	for _, args := range [][]string{
		{"upstream", "approve", "cmr", "prompt", "brief"},
		{"upstream", "approve", "cmr", "prompt", "brief", "--hash", strings.Repeat("0", 64)},
		{"upstream", "approve", "lookup", "template", "file:///{path}"},
	} {
		r := run(t, nil, "", append(args, d...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "upstream "+args[2]+": not found") || strings.Contains(r.stdout, "nothing awaits") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if after := c("audit", "export").stdout; after != before {
		t.Errorf("a refused approval of an unknown upstream was recorded:\n%s", strings.TrimPrefix(after, before))
	}
	// An upstream that exists, with nothing awaiting, is still answered so.
	if r := c("upstream", "approve", "crm", "prompt", "brief"); !strings.Contains(r.stdout, "nothing awaits approval") {
		t.Errorf("approve with nothing awaiting: %q", r.stdout)
	}
}
