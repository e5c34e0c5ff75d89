package sqldb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestNewerSchemaRefused: a store that a newer release migrated (a
// version in schema_migrations past this binary's last migration) is
// refused at open, saying so, instead of being used by code that does not
// know its tables: an older binary started by mistake, or a rollback
// after an upgrade.
func TestNewerSchemaRefused(t *testing.T) {
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
	for name, open := range opens {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		var last, applied int
		if err := s.SQL().QueryRowContext(ctx, "SELECT MAX(version), COUNT(*) FROM schema_migrations").Scan(&last, &applied); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SQL().ExecContext(ctx, s.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)"),
			last+1, "from_a_newer_release.sql"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = open()
		if err == nil {
			s.Close()
			t.Errorf("%s: a store at schema version %d opened with a binary that knows up to %d", name, last+1, last)
			continue
		}
		if !strings.Contains(err.Error(), "newer") {
			t.Errorf("%s: the refusal does not say why: %v", name, err)
		}
	}
}
