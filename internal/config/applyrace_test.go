package config_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// toolsListHook is an apply's transaction whose Tools().List runs after()
// once it is read: what another replica commits between the apply's read
// of the tools and its update of one.
type toolsListHook struct {
	store.Tenant
	after func()
}

func (h toolsListHook) Tools() store.Collection[store.Tool] {
	return &hookedTools{h.Tenant.Tools(), h.after}
}

type hookedTools struct {
	store.Collection[store.Tool]
	after func()
}

func (c *hookedTools) List(ctx context.Context) ([]store.Tool, error) {
	out, err := c.Collection.List(ctx)
	if c.after != nil {
		c.after()
		c.after = nil
	}
	return out, err
}

// TestApplyKeepsConcurrentApproval: an admin approves a withheld upstream
// tool's new definition on one replica while a tenant file that changes
// that tool's roles is applied on another. The apply keeps the gateway's
// pin and approval status as they are when it writes, not as it read them
// before the approval committed: the approval stands.
func TestApplyKeepsConcurrentApproval(t *testing.T) {
	st := storetest.OpenPostgres(t)
	other := storetest.SecondHandle(t, st)
	ctx := context.Background()
	file := func(roles string) *config.File {
		f, err := config.Parse(strings.NewReader(`tenant: acme
roles:
  - name: a
  - name: b
upstreams:
  - name: up
    url: http://127.0.0.1:9100/mcp
tools:
  - name: echo
    upstream: up
    roles: [`+roles+`]
`), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Validate(nil); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, err := config.Apply(ctx, st, file("a"), config.Argon2, nil); err != nil {
		t.Fatal(err)
	}
	// The gateway withheld a changed definition: pinned X, Y awaits review.
	err := st.Tools().Update(ctx, "echo", func(t store.Tool) (store.Tool, error) {
		t.Status, t.PinnedHash, t.PinnedDefinition = store.ToolPending, "hash-x", json.RawMessage(`{"d":"x"}`)
		t.PendingHash, t.PendingDefinition = "hash-y", json.RawMessage(`{"d":"y"}`)
		return t, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	approved := make(chan error, 1)
	err = st.InTx(ctx, func(tx store.Tenant) error {
		_, err := config.ApplyIn(ctx, toolsListHook{tx, func() {
			// The admin approves Y on another replica meanwhile: it
			// commits now, or (the tenant lock taken first by both) waits
			// for the apply to commit; either way the approval stands.
			go func() { approved <- gateway.Approve(ctx, other, audit.Discard, "echo", "hash-y") }()
			time.Sleep(200 * time.Millisecond)
		}}, file("a, b"), config.Argon2, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	got, err := st.Tools().Get(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.ToolActive || got.PinnedHash != "hash-y" || !equalRoles(got.Roles, []string{"a", "b"}) {
		t.Fatalf("after the approval of hash-y and the apply: status %q, pinned %q, pending %q, roles %v; want active, pinned hash-y, roles [a b]",
			got.Status, got.PinnedHash, got.PendingHash, got.Roles)
	}
}

func equalRoles(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
