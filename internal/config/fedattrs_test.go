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
