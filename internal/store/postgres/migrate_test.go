package postgres_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestOpenConcurrently: replicas starting together on a new database all
// open it, and each migration is applied once. PostgreSQL's CREATE TABLE
// IF NOT EXISTS is not safe between concurrent sessions, so the
// migrations' own table must be made under the migrations' lock too.
func TestOpenConcurrently(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	const rounds, replicas = 3, 8
	for round := range rounds {
		dsn := storetest.PostgresSchema(t)
		var wg sync.WaitGroup
		for range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := postgres.Open(context.Background(), dsn, nil)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				s.Close()
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		s, err := postgres.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		var applied, versions int
		err = s.SQL().QueryRowContext(context.Background(),
			"SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&applied, &versions)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if applied != len(files) || versions != len(files) {
			t.Fatalf("round %d: %d migrations recorded (%d versions), want %d", round, applied, versions, len(files))
		}
	}
}
