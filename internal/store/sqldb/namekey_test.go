package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/casefold"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// caseNamesFixture fills s with records of every kind whose names differ
// only in case from others, ASCII or not, among enough others that the
// planner's statistics favour an index that can be used.
func caseNamesFixture(t *testing.T, s *sqldb.DB) {
	t.Helper()
	ctx := context.Background()
	for i := range 2000 {
		if err := s.Users().Create(ctx, store.User{Username: fmt.Sprint("person", i)}); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if err := s.Clients().Create(ctx, store.Client{ClientID: fmt.Sprint("agent-", i), Kind: store.KindAgent}); err != nil {
				t.Fatal(err)
			}
			if err := s.Tools().Create(ctx, store.Tool{Name: fmt.Sprint("tool_", i), Builtin: "echo"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Names stored before they were refused: two spellings of one.
	for _, u := range []string{"Kim", "okta:José", "okta:JOSÉ", "okta:straße"} {
		if err := s.Users().Create(ctx, store.User{Username: u}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"Billing-API", "https://app.example/Client"} {
		if err := s.Clients().Create(ctx, store.Client{ClientID: c, Kind: store.KindWeb}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Tools().Create(ctx, store.Tool{Name: "Send_Email", Builtin: "echo"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Roles().Create(ctx, store.Role{Name: "Sales"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Upstreams().Create(ctx, store.Upstream{Name: "Files", Command: []string{"files"}}); err != nil {
		t.Fatal(err)
	}
	if s.Dialect() == "postgres" {
		for _, table := range []string{"users", "clients", "tools", "roles", "upstreams"} {
			if _, err := s.SQL().ExecContext(ctx, "ANALYZE "+table); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The check that a new name does not differ only in case from a stored
// one (store.NameFree, on every admin add and every first federated
// sign-in, under the tenant's lock) looks the name up through an index of
// the names' folded forms, not by reading every user and client: a tenant
// of 100,000 people had every first sign-in read all of them, holding the
// lock every other sign-in and write waits for. The lookup answers what
// strings.EqualFold would, for names of any script.
func TestNamesEqualFoldUseTheirIndex(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			caseNamesFixture(t, s)
			for _, tc := range []struct {
				kind, name string
				want       []string
			}{
				{"user", "kim", []string{"Kim"}},
				{"user", "\u212aIM", []string{"Kim"}}, // the Kelvin sign folds with k
				{"user", "okta:josé", []string{"okta:JOSÉ", "okta:José"}},
				{"user", "OKTA:STRAẞE", []string{"okta:straße"}},
				{"user", "okta:strasse", nil}, // strings.EqualFold does not fold ß to ss
				{"user", "PERSON1999", []string{"person1999"}},
				{"user", "person1999", []string{"person1999"}},
				{"user", "nobody", nil},
				{"client", "billing-api", []string{"Billing-API"}},
				{"client", "HTTPS://APP.EXAMPLE/CLIENT", []string{"https://app.example/Client"}},
				{"client", "PERSON7", nil},
				{"tool", "send_email", []string{"Send_Email"}},
				{"role", "sales", []string{"Sales"}},
				{"upstream", "FILES", []string{"Files"}},
			} {
				got, err := s.NamesEqualFold(ctx, tc.kind, tc.name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s names equal to %q but for case: %q, want %q", tc.kind, tc.name, got, tc.want)
				}
			}
			// The kinds a tenant has many of (PostgreSQL rightly reads a
			// table of a few roles or upstreams whole).
			for kind, index := range map[string]string{"user": "users_name_key", "client": "clients_name_key",
				"tool": "tools_name_key"} {
				plan, err := s.Explain(ctx, s.NamesEqualFoldQuery(kind), casefold.Key("person7"))
				if err != nil {
					t.Fatal(err)
				}
				table := strings.TrimSuffix(index, "_name_key")
				if !strings.Contains(plan, index) || strings.Contains(plan, "Seq Scan") ||
					slices.Contains(strings.Split(plan, "\n"), "SCAN "+table) {
					t.Errorf("%s: the plan does not use %s alone:\n%s", kind, index, plan)
				}
			}
			if _, err := s.NamesEqualFold(ctx, "key", "x"); err == nil {
				t.Error("a kind of name that is not one was looked up")
			}
		})
	}
}

// NameFree, through the lookup, refuses what it refused when it read every
// name, with the same words, on either engine.
func TestNameFreeThroughTheLookup(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			caseNamesFixture(t, s)
			for _, tc := range []struct {
				kind, name, want string
			}{
				{"user", "KIM", `user "KIM" differs only in case from user "Kim"`},
				{"user", "okta:josé", `user "okta:josé" differs only in case from user "okta:JOSÉ"`},
				{"user", "Billing-API", `"Billing-API" is a client: a person and a client cannot share a name`},
				{"user", "billing-api", `"billing-api" is the client "Billing-API" but for case`},
				{"client", "okta:Kim", ""},
				{"client", "kim", `"kim" is the user "Kim" but for case`},
				{"client", "Kim", `"Kim" is a user`},
				{"tool", "SEND_EMAIL", `tool "SEND_EMAIL" differs only in case from tool "Send_Email"`},
				{"role", "sales", `role "sales" differs only in case from role "Sales"`},
				{"upstream", "files", `upstream "files" differs only in case from upstream "Files"`},
				{"user", "Kim", ""}, // the record itself: Create's conflict, not this check's
				{"user", "someone", ""},
				{"tool", "sales", ""},
			} {
				err := s.InTx(ctx, func(tx store.Tenant) error {
					if err := tx.Lock(ctx); err != nil {
						return err
					}
					return store.NameFree(ctx, tx, tc.kind, tc.name)
				})
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s %q refused: %v", tc.kind, tc.name, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s %q: %v, want %q", tc.kind, tc.name, err, tc.want)
				}
			}
		})
	}
}

// A record written without its folded name, by a release before the one
// that keeps it (a replica still running it in a rolling upgrade), is
// still found: the lookup reads such records too and folds them itself,
// and the next start of the store folds them for good.
func TestNamesEqualFoldFindsRecordsWithoutTheirKey(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			if _, err := s.SQL().ExecContext(ctx, s.Rebind(
				"INSERT INTO users (name, doc, created_at, updated_at) VALUES (?, ?, 0, 0)"),
				"okta:Ana", `{"username":"okta:Ana"}`); err != nil {
				t.Fatal(err)
			}
			got, err := s.NamesEqualFold(ctx, "user", "OKTA:ANA")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"okta:Ana"}; !slices.Equal(got, want) {
				t.Errorf("names equal to OKTA:ANA but for case: %q, want %q", got, want)
			}
			if got, err := s.NamesEqualFold(ctx, "user", "okta:bob"); err != nil || len(got) != 0 {
				t.Errorf("names equal to okta:bob but for case: %q, %v", got, err)
			}
		})
	}
}

// A store made before names were folded gets every record's folded name
// when it is opened: ASCII names by the migration, others by Go's folding
// (casefold.Key) as the store opens, the same either way as the folding
// of a record made now.
func TestNameKeysOfAnEarlierStore(t *testing.T) {
	ctx := context.Background()
	opens := map[string]func() (*sqldb.DB, error){}
	for _, b := range storetest.Backends(t) {
		switch b.Name {
		case "sqlite":
			dir := t.TempDir()
			opens[b.Name] = func() (*sqldb.DB, error) { return sqlite.Open(ctx, dir, nil) }
		case "postgres":
			dsn := storetest.PostgresSchema(t)
			opens[b.Name] = func() (*sqldb.DB, error) { return postgres.Open(ctx, dsn, nil) }
		}
	}
	tables := []string{"users", "clients", "tools", "roles", "upstreams"}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"alice", "Alice", "ímå", "okta:José", "\u212aelvin", "dotless-ı", "İstanbul", "mix_Ab-9.z"} {
				if err := s.Users().Create(ctx, store.User{Username: u}); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []string{"Billing-API", "https://app.example/ÉTÉ"} {
				if err := s.Clients().Create(ctx, store.Client{ClientID: c, Kind: store.KindWeb}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Tools().Create(ctx, store.Tool{Name: "Send_Email", Builtin: "echo"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Roles().Create(ctx, store.Role{Name: "sales"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Upstreams().Create(ctx, store.Upstream{Name: "Files", Command: []string{"files"}}); err != nil {
				t.Fatal(err)
			}
			// Back to the schema before the names' keys.
			for _, table := range tables {
				for _, st := range []string{"DROP INDEX " + table + "_name_key", "ALTER TABLE " + table + " DROP COLUMN name_key"} {
					if _, err := s.SQL().ExecContext(ctx, st); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := s.SQL().ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 9"); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if s, err = open(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, table := range tables {
				rows, err := s.SQL().QueryContext(ctx, "SELECT name, name_key FROM "+table)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var name string
					var key sql.NullString
					if err := rows.Scan(&name, &key); err != nil {
						t.Fatal(err)
					}
					n++
					if !key.Valid || key.String != casefold.Key(name) {
						t.Errorf("%s %q: key %q (set: %v), want %q", table, name, key.String, key.Valid, casefold.Key(name))
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				rows.Close()
				if n == 0 {
					t.Errorf("%s: no record", table)
				}
			}
			got, err := s.NamesEqualFold(ctx, "user", "OKTA:JOSÉ")
			if err != nil || !slices.Equal(got, []string{"okta:José"}) {
				t.Errorf("names equal to OKTA:JOSÉ but for case: %q, %v", got, err)
			}
		})
	}
}
