package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// The users a federation connection linked to one upstream account are
// found through an index, not by reading every user: a first sign-in
// looks for them holding the tenant's lock (on SQLite the write lock,
// which every audit commit waits for), and reading 100,000 users took
// 350-430 ms of it.
func TestUsersLinkedToUseTheirIndex(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			users := s.Users()
			for i := range 2000 {
				u := store.User{Username: fmt.Sprint("person", i)}
				if i%2 == 0 { // half made by a connection, linked to an account each
					u = store.User{Username: fmt.Sprint("corp:person", i), Attributes: map[string]string{
						"idp": "corp", "idp_sub": fmt.Sprint("sub-", i%500), "idp_iss": "https://idp.example"}}
				}
				if err := users.Create(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if b.Name == "postgres" {
				if _, err := s.SQL().ExecContext(ctx, "ANALYZE users"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.UsersLinkedTo(ctx, "sub-4")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range got {
				names = append(names, u.Username)
			}
			if want := []string{"corp:person1004", "corp:person1504", "corp:person4", "corp:person504"}; !slices.Equal(names, want) {
				t.Errorf("linked to sub-4: %q, want %q", names, want)
			}
			if got, err := s.UsersLinkedTo(ctx, "nobody"); err != nil || len(got) != 0 {
				t.Errorf("linked to nobody: %v, %v", got, err)
			}
			plan, err := s.Explain(ctx, s.UsersLinkedQuery(), "sub-4")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, "users_idp_sub") {
				t.Errorf("the plan does not use users_idp_sub:\n%s", plan)
			}
		})
	}
}
