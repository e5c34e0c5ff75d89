package gateway_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/gateway"
)

// A caller whose calls are refused over and over (an agent looping on a
// tool it may not call, or on one that does not exist) has its refusals
// recorded up to the bound a minute, the one past it marked throttled,
// and none after: the trail does not grow as fast as the gateway answers.
// Past the bound every refusal, of a denied or an unknown tool alike, is
// answered the same; allowed calls are not counted and still run; another
// caller is counted apart.
func TestRefusedCallsRecordedWithinABound(t *testing.T) {
	defer gateway.SetRefusalsPerMinute(3)()
	e := newEnv(t, envOptions{})
	alice := e.connect("alice", "acme-assistant", "2025-11-25")
	month := map[string]any{"month": "2026-10"}
	denied := func() []audit.Event {
		var out []audit.Event
		for _, ev := range e.mem.all() {
			if ev.Type == audit.ToolDecided && ev.Decision == "deny" && ev.Actor == "alice" {
				out = append(out, ev)
			}
		}
		return out
	}
	for i := range 3 {
		if r := call(t, alice, "payroll_report", month); !r.IsError || strings.Contains(text(r), "too many") {
			t.Fatalf("refusal %d: %q", i+1, text(r))
		}
	}
	if n := len(denied()); n != 3 {
		t.Fatalf("%d refusals recorded, want 3", n)
	}
	// The fourth goes past: recorded, marked, and answered as throttled.
	r := call(t, alice, "payroll_report", month)
	if !r.IsError || !strings.Contains(text(r), "too many of your tool calls were refused in the last minute") {
		t.Fatalf("refusal 4: %q", text(r))
	}
	got := denied()
	if len(got) != 4 || got[3].Detail["throttled"] != true {
		t.Fatalf("refusal 4's record: %+v", got[len(got)-1])
	}
	// Past it: an unknown tool is answered as the denied one was, and
	// nothing more is recorded.
	for _, tool := range []string{"payroll_report", "no_such_tool"} {
		r := call(t, alice, tool, month)
		if !r.IsError || text(r) != text(call(t, alice, "payroll_report", month)) {
			t.Fatalf("%s past the bound: %q", tool, text(r))
		}
	}
	if n := len(denied()); n != 4 {
		t.Fatalf("%d refusals recorded past the bound, want 4", n)
	}
	// Allowed calls run and are recorded as ever.
	if r := call(t, alice, "sales_report", month); r.IsError {
		t.Fatalf("an allowed call past the refusals' bound: %q", text(r))
	}
	// Another caller is counted apart.
	carol := e.connect("carol", "acme-assistant", "2025-11-25")
	if r := call(t, carol, "payroll_report", month); !r.IsError || strings.Contains(text(r), "too many") {
		t.Fatalf("carol: %q", text(r))
	}
}
