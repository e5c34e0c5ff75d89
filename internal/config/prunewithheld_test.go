package config_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestApplyPruneRemovesAWithheldTool: a tool the tenant file declared,
// withheld by the gateway since its upstream changed its definition, is
// pruned with the file that no longer declares it. Kept, it held its
// roles, and an admin approving the new definition later gave it back to
// them, a tool the tenant no longer has. A tool the gateway imported on
// its own, never approved, is still left to an admin.
func TestApplyPruneRemovesAWithheldTool(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	applySource(t, st, `tenant: acme
roles:
  - name: sales
upstreams:
  - name: crm
    url: http://127.0.0.1:9100/mcp
tools:
  - name: crm_lookup
    upstream: crm
    roles: [sales]
`)
	// The gateway pinned the definition it first saw, then withheld a
	// changed one; and it imported a tool nobody declared.
	if err := st.Tools().Update(ctx, "crm_lookup", func(t store.Tool) (store.Tool, error) {
		t.PinnedHash, t.PinnedDefinition = "h1", []byte(`{"name":"crm_lookup"}`)
		t.Status, t.PendingHash, t.PendingDefinition = store.ToolPending, "h2", []byte(`{"name":"crm_lookup","description":"new"}`)
		return t, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Tools().Create(ctx, store.Tool{Name: "crm_export", Upstream: "crm", Status: store.ToolPending,
		PendingHash: "h3", PendingDefinition: []byte(`{"name":"crm_export"}`)}); err != nil {
		t.Fatal(err)
	}
	f, err := parse(t, `tenant: acme
roles:
  - name: sales
upstreams:
  - name: crm
    url: http://127.0.0.1:9100/mcp
`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(planLines(plan), "- tool crm_lookup") {
		t.Errorf("the plan does not remove the withheld tool: %v", planLines(plan))
	}
	if tl, err := st.Tools().Get(ctx, "crm_lookup"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the withheld tool the file no longer declares is still there (roles %v): %v", tl.Roles, err)
	}
	if _, err := st.Tools().Get(ctx, "crm_export"); err != nil {
		t.Errorf("the tool imported by the gateway, awaiting approval, was pruned: %v", err)
	}
}

// TestApplyPruneTakesAPrunedUpstreamsPendingTools: a tool an upstream
// offered, awaiting an admin's approval, goes with its upstream when the
// file prunes that: left, it named an upstream that no longer exists
// (which 'upstream remove' refuses to leave behind), and one of that name
// added later would find it waiting for approval.
func TestApplyPruneTakesAPrunedUpstreamsPendingTools(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	applySource(t, st, `tenant: acme
upstreams:
  - name: crm
    url: http://127.0.0.1:9100/mcp
  - name: wiki
    url: http://127.0.0.1:9101/mcp
`)
	for _, tl := range []store.Tool{{Name: "crm_export", Upstream: "crm"}, {Name: "wiki_search", Upstream: "wiki"}} {
		tl.Status, tl.PendingHash, tl.PendingDefinition = store.ToolPending, "h-"+tl.Name, []byte(`{"name":"`+tl.Name+`"}`)
		if err := st.Tools().Create(ctx, tl); err != nil {
			t.Fatal(err)
		}
	}
	f, err := parse(t, `tenant: acme
upstreams:
  - name: wiki
    url: http://127.0.0.1:9101/mcp
`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if lines := planLines(plan); !slices.Contains(lines, "- upstream crm") || !slices.Contains(lines, "- tool crm_export") {
		t.Errorf("the plan: %v, want crm and its pending tool removed", lines)
	}
	if _, err := st.Tools().Get(ctx, "crm_export"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the pruned upstream's pending tool is still there: %v", err)
	}
	if _, err := st.Tools().Get(ctx, "wiki_search"); err != nil {
		t.Errorf("a kept upstream's pending tool was pruned: %v", err)
	}
}
