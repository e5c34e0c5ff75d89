package config_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestUnnamedIsWhatPruneWouldDelete: Unnamed lists exactly the records
// an apply with Prune deletes, in its order: neither a federated sign-in's
// person, nor a registered client, nor a tool of a declared upstream
// awaiting its first approval, which Prune leaves alone.
func TestUnnamedIsWhatPruneWouldDelete(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	applySource(t, st, `tenant: acme
roles: [{name: sales}, {name: old}]
users:
  - {username: alice, roles: [sales]}
  - {username: bob, roles: [old]}
clients:
  - {client_id: reporter, kind: agent}
upstreams:
  - {name: crm, command: [crm]}
  - {name: gone, command: [gone]}
tools:
  - {name: report, builtin: sales_report, roles: [sales]}
  - {name: lookup, upstream: gone, roles: [old]}
`)
	for _, err := range []error{
		st.Users().Create(ctx, store.User{Username: "corp:dave", Attributes: map[string]string{"idp": "corp"}}),
		st.Clients().Create(ctx, store.Client{ClientID: "registered", Kind: store.KindNative, Source: "registration"}),
		st.Tools().Create(ctx, store.Tool{Name: "crm_new", Upstream: "crm", Status: store.ToolPending}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := parse(t, `tenant: acme
roles: [{name: sales}]
users:
  - {username: alice, roles: [sales]}
upstreams:
  - {name: crm, command: [crm]}
tools:
  - {name: report, builtin: sales_report, roles: [sales]}
`)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := config.Unnamed(ctx, st, f)
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	pruned = slices.DeleteFunc(pruned, func(c config.Change) bool { return c.Op != "-" || c.Kind == "connection" })
	want := []string{"- role old", "- upstream gone", "- client reporter", "- tool lookup", "- user bob"}
	if got := planLines(kept); !slices.Equal(got, want) {
		t.Errorf("Unnamed = %q, want %q", got, want)
	}
	if got, wantPruned := planLines(kept), planLines(pruned); !slices.Equal(got, wantPruned) {
		t.Errorf("Unnamed = %q, Prune deletes %q", got, wantPruned)
	}
}
