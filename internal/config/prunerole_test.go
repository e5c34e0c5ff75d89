package config_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestApplyPruneOfARoleTakesItFromEveryone: apply --prune that removes a
// role takes it from every person and tool holding it, as role remove
// does: also a person the file does not name (a federated sign-in's),
// who would otherwise hold a role that no longer exists, and be given a
// role created later under that name unasked.
func TestApplyPruneOfARoleTakesItFromEveryone(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	applySource(t, st, "tenant: acme\nroles:\n  - name: finance\n")
	if err := st.Users().Create(ctx, store.User{Username: "corp:dave", Roles: []string{"finance"},
		Attributes: map[string]string{"idp": "corp", "idp_sub": "123"}}); err != nil {
		t.Fatal(err)
	}
	f, err := parse(t, "tenant: acme\nroles: []\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Roles().Get(ctx, "finance"); err == nil {
		t.Fatal("the role was not pruned")
	}
	u, err := st.Users().Get(ctx, "corp:dave")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(u.Roles, "finance") {
		t.Errorf("corp:dave still holds the pruned role finance: %v", u.Roles)
	}
}
