package cli_test

import (
	"strings"
	"testing"
)

// TestClientAddNoToolsWithTool: --no-tools (cap the agent to no tool at
// all) with --tool (cap it to that tool) asks for two different caps.
// Taken, the agent was capped to the tools named, so one meant to reach
// nothing reached them. The command refuses, naming both flags, and adds
// no client.
func TestClientAddNoToolsWithTool(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	must(t, run(t, nil, "", append([]string{"tool", "add", "report", "--builtin", "sales_report"}, d...)...))
	r := run(t, nil, "", append([]string{"client", "add", "helper", "--no-tools", "--tool", "report"}, d...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "--no-tools") || !strings.Contains(r.stderr, "--tool") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if l := must(t, run(t, nil, "", append([]string{"client", "list"}, d...)...)).stdout; strings.Contains(l, "helper") {
		t.Errorf("the refused client was added:\n%s", l)
	}
	// Each alone is taken.
	must(t, run(t, nil, "", append([]string{"client", "add", "helper", "--no-tools"}, d...)...))
	must(t, run(t, nil, "", append([]string{"client", "add", "other", "--tool", "report"}, d...)...))
	if l := must(t, run(t, nil, "", append([]string{"client", "list"}, d...)...)).stdout; !strings.Contains(l, "only: report") {
		t.Errorf("client list:\n%s", l)
	}
}
