package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUnpinnedToolNotRun: a call decided on a catalogue built while a
// tool the tenant declared was not pinned yet (its upstream had not listed
// it since) runs only what the listing it waits for pinned: checkServed
// asks the store how the tool stands now, and refuses one withheld (its
// upstream tool's approved definition differs), one still without a pin,
// or one pinned to another definition than the one served. Before, a tool
// without a pin passed, and the call ran whatever the upstream served.
func TestUnpinnedToolNotRun(t *testing.T) {
	declared := store.Tool{Name: "echo_b", Upstream: "up", UpstreamTool: "echo"}
	now := func(cur store.Tool) func(context.Context, string) (store.Tool, error) {
		return func(context.Context, string) (store.Tool, error) { return cur, nil }
	}
	for _, tt := range []struct {
		name    string
		current func(context.Context, string) (store.Tool, error)
		refused string // "" = served
	}{
		{"no store to ask", nil, "no definition of echo is approved"},
		{"withheld by the listing", now(store.Tool{Name: "echo_b", Upstream: "up", UpstreamTool: "echo", Status: store.ToolPending, PinnedHash: "old", PendingHash: "h"}), "no definition of echo is approved"},
		{"still without a pin", now(declared), "no definition of echo is approved"},
		{"pinned to another definition", now(store.Tool{Name: "echo_b", Upstream: "up", UpstreamTool: "echo", PinnedHash: "old"}), "another definition"},
		{"pinned on first sight", now(store.Tool{Name: "echo_b", Upstream: "up", UpstreamTool: "echo", PinnedHash: "h"}), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &upConn{defs: map[string]liveDef{"echo": {hash: "h"}}, current: tt.current}
			err := c.checkServed(context.Background(), declared)
			switch {
			case tt.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.refused != "" && (err == nil || !strings.Contains(err.Error(), tt.refused)):
				t.Errorf("%v, want refused saying %q", err, tt.refused)
			}
		})
	}
}
