package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestApproveWhenNothingAwaitsIsAudited: approving a hash when nothing
// awaits approval is refused and recorded as a stale hash's refusal is.
func TestApproveWhenNothingAwaitsIsAudited(t *testing.T) {
	url, _ := upstreamServer(t, "Looks up a customer")
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("upstream", "add", "crm", "--url", url)
	startGateway(t, data)
	hash := pendingHash(t, data, "lookup", "")
	c("tool", "approve", "lookup", "--hash", hash)

	other := strings.Repeat("ab", 32)
	r := run(t, nil, "", "tool", "approve", "lookup", "--hash", other, "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "nothing awaits approval") {
		t.Fatalf("approve when nothing awaits: exit %d %q", r.code, r.stderr)
	}
	out := c("audit", "export", "--type", "admin.change").stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct{ Event audit.Event }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	ev := last.Event
	if !strings.HasPrefix(ev.Actor, "cli") || ev.Tool != "lookup" || ev.Status != "refused" {
		t.Errorf("refusal recorded as %+v", ev)
	}
	want := map[string]any{"action": "approve_upstream_tool", "upstream": "crm", "reviewed_hash": other,
		"live_hash": hash, "pinned_hash": hash}
	if diff := cmp.Diff(want, ev.Detail); diff != "" {
		t.Errorf("refusal detail (-want +got):\n%s", diff)
	}
}
