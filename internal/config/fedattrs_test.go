package config_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestApplyPruneRemovesAFilePersonWhateverItsAttributes: apply --prune
// keeps the people a federated sign-in made, whom it knows by their
// attribute idp. A person of the tenant file given an attribute of that
// name (an "idp: okta" note) must not pass for one: taken out of the file,
// they would keep their roles, and their tool calls, for good. The file
// may not give the attributes a federated sign-in sets.
func TestApplyPruneRemovesAFilePersonWhateverItsAttributes(t *testing.T) {
	for _, attr := range []string{"idp", "idp_sub", "idp_iss", "idp_roles"} {
		t.Run(attr, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			ctx := context.Background()
			f, err := parse(t, "tenant: acme\nroles:\n  - name: finance\nusers:\n  - username: bob\n    roles: [finance]\n    attributes: {"+attr+": okta}\n")
			if err != nil {
				// Refused up front, as it should be: saying so.
				want := "t.yaml:7: users[0].attributes." + attr + ": is set by a federated sign-in"
				if ps := problems(t, err); len(ps) != 1 || !strings.HasPrefix(ps[0], want) {
					t.Fatalf("problems = %q, want one starting %q", ps, want)
				}
				return
			}
			if _, err := config.Apply(ctx, st, f, config.Argon2, nil); err != nil {
				t.Fatal(err)
			}
			f, err = parse(t, "tenant: acme\nroles:\n  - name: finance\n")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true}); err != nil {
				t.Fatal(err)
			}
			if u, err := st.Users().Get(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("bob, taken out of the file, outlived apply --prune with roles %v (err %v)", u.Roles, err)
			}
		})
	}
}

// TestRolesAttributeRefused: principal.roles is always the person's roles,
// so an attribute named roles would be ignored without a word; the file
// is refused on its line, with where roles go.
func TestRolesAttributeRefused(t *testing.T) {
	_, err := parse(t, "tenant: acme\nroles:\n  - name: finance\nusers:\n  - username: bob\n    attributes: {roles: finance}\n")
	want := "t.yaml:6: users[0].attributes.roles: is the person's roles (principal.roles): give them as roles:, not as an attribute"
	if ps := problems(t, err); len(ps) != 1 || ps[0] != want {
		t.Errorf("problems = %q, want %q", ps, want)
	}
}
