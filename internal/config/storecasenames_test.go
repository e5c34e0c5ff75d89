package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestApplyRefusesNamesDifferingOnlyInCaseFromTheStore: the tenant file
// refuses "alice" beside "Alice" within itself; an apply refuses a new
// name that differs only in case from one the store already holds (made
// by an earlier file this one does not prune, by the admin commands, by a
// federated sign-in), naming the stored spelling, and changes nothing. A
// person and a client cannot share a name but for case either. An apply
// with --prune that drops the old spelling renames; and names a store
// held before the rule (bob and Bob) keep working: only new ones are
// refused.
func TestApplyRefusesNamesDifferingOnlyInCaseFromTheStore(t *testing.T) {
	ctx := context.Background()
	const base = `tenant: acme
users:
  - username: alice
clients:
  - {client_id: agent, kind: agent}
tools:
  - {name: send_email, builtin: sales_report}
`
	for _, tc := range []struct{ name, add, want string }{
		{"user", "users:\n  - username: Alice\n", `user "Alice" differs only in case from user "alice"`},
		{"client", "clients:\n  - {client_id: AGENT, kind: agent}\n", `client "AGENT" differs only in case from client "agent"`},
		{"tool", "tools:\n  - {name: Send_Email, builtin: sales_report}\n", `tool "Send_Email" differs only in case from tool "send_email"`},
		{"client as a user", "clients:\n  - {client_id: ALICE, kind: agent}\n", `"ALICE" is the user "alice" but for case: a person and a client cannot share a name`},
		{"user as a client", "users:\n  - username: Agent\n", `"Agent" is the client "agent" but for case: a person and a client cannot share a name`},
		{"client as a federated user", "clients:\n  - {client_id: \"corp:Dave\", kind: agent}\n", `"corp:Dave" is the user "corp:dave" but for case`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			applySource(t, st, base)
			if err := st.Users().Create(ctx, store.User{Username: "corp:dave",
				Attributes: map[string]string{"idp": "corp", "idp_sub": "123"}}); err != nil {
				t.Fatal(err)
			}
			before, _ := st.Revision(ctx)
			f, err := parse(t, "tenant: acme\n"+tc.add)
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Apply(ctx, st, f, config.Argon2, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v, want an error with %q", err, tc.want)
			}
			if after, _ := st.Revision(ctx); after != before {
				t.Errorf("the refused apply changed the store (revision %d → %d)", before, after)
			}
		})
	}

	t.Run("pruned spelling", func(t *testing.T) {
		st := storetest.OpenSQLite(t)
		applySource(t, st, base)
		f, err := parse(t, "tenant: acme\nusers:\n  - username: Alice\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Apply(ctx, st, f, config.Argon2, &config.ApplyOptions{Prune: true}); err != nil {
			t.Fatalf("apply --prune renaming alice to Alice: %v", err)
		}
		if _, err := st.Users().Get(ctx, "Alice"); err != nil {
			t.Error(err)
		}
	})

	t.Run("names stored before the rule", func(t *testing.T) {
		st := storetest.OpenSQLite(t)
		applySource(t, st, base)
		for _, n := range []string{"bob", "Bob"} {
			if err := st.Users().Create(ctx, store.User{Username: n}); err != nil {
				t.Fatal(err)
			}
		}
		src := strings.Replace(base, "  - username: alice\n", "  - username: alice\n  - username: bob\n  - username: carol\n", 1)
		applySource(t, st, src)
		if lines := applySource(t, st, src); len(lines) != 0 {
			t.Errorf("second apply: %v", lines)
		}
	})
}
