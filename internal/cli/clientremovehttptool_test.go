package cli_test

import (
	"strings"
	"testing"
)

// TestClientRemoveRefusesAnHTTPToolsRedeemer: the service client an HTTP
// tool names to introspect its slips cannot be removed while the tool
// names it, as an upstream cannot while a tool uses it. Removed, the
// tool's slips name a client that no longer exists (a state the tenant
// file refuses: unknown client), and a client added again under that ID
// of another kind (an agent) would be the one client the tool's slips
// let introspect and consume them.
func TestClientRemoveRefusesAnHTTPToolsRedeemer(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	must(t, run(t, nil, "a-long-client-secret-of-32-chars-or-more\n", append([]string{"client", "add", "billing", "--kind", "service", "--secret-stdin"}, d...)...))
	must(t, run(t, nil, "", append([]string{"tool", "add", "refund", "--http-method", "POST", "--http-url", "http://127.0.0.1:9200/refund", "--http-client", "billing"}, d...)...))
	r := run(t, nil, "", append([]string{"client", "remove", "billing"}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "refund") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming the tool", r.code, r.stderr)
	}
	if l := must(t, run(t, nil, "", append([]string{"client", "list"}, d...)...)).stdout; !strings.Contains(l, "billing") {
		t.Errorf("the client was removed:\n%s", l)
	}
	// Once the tool is gone, the client goes.
	must(t, run(t, nil, "", append([]string{"tool", "remove", "refund"}, d...)...))
	must(t, run(t, nil, "", append([]string{"client", "remove", "billing"}, d...)...))
}
