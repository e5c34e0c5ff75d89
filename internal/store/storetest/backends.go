package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make test schemas

	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// Backend is a way to make fresh stores for tests.
type Backend struct {
	Name string
	Open func(t *testing.T) *sqldb.DB
}

// Backends returns SQLite always and PostgreSQL when GATEHOUSE_TEST_POSTGRES
// holds a connection URL. Under CI=true a missing PostgreSQL fails the test
// instead of skipping it.
func Backends(t *testing.T) []Backend {
	bs := []Backend{{Name: "sqlite", Open: OpenSQLite}}
	if os.Getenv("GATEHOUSE_TEST_POSTGRES") != "" {
		bs = append(bs, Backend{Name: "postgres", Open: OpenPostgres})
	} else if os.Getenv("CI") == "true" {
		t.Errorf("GATEHOUSE_TEST_POSTGRES is not set: PostgreSQL tests are required under CI=true")
	} else {
		t.Log("GATEHOUSE_TEST_POSTGRES is not set: skipping the PostgreSQL backend")
	}
	return bs
}

// OpenSQLite returns a store in a new temporary folder.
func OpenSQLite(t *testing.T) *sqldb.DB {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var schemaSeq atomic.Int64

// OpenPostgres returns a store in a new schema of the database named by
// GATEHOUSE_TEST_POSTGRES, dropped when the test ends.
func OpenPostgres(t *testing.T) *sqldb.DB {
	t.Helper()
	s, err := postgres.Open(context.Background(), PostgresSchema(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresSchema creates a new, empty schema in the database named by
// GATEHOUSE_TEST_POSTGRES (skipping the test when it is not set) and
// returns the URL that opens it; the schema is dropped when the test ends.
// It is for tests of what happens before a store exists (its migrations).
func PostgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	schema := fmt.Sprintf("gh_test_%d_%d", time.Now().UnixNano(), schemaSeq.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns the URL with search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
