package sqldb_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestPreparationEndsWithContext (PostgreSQL): a hot query's first use
// prepares it, and preparing waits for the locks of the tables it names.
// Behind a table held by another session (a long ALTER, LOCK TABLE, a
// VACUUM FULL) the preparation ends with its caller's context, like the
// statement would, and it does not hold up the first use of queries on
// other tables meanwhile. Before, it was prepared without the caller's
// deadline and under one lock for all preparations: the audit writer's
// commit timeout and every request's deadline went unheeded until the
// other session let go.
func TestPreparationEndsWithContext(t *testing.T) {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	db := storetest.OpenPostgres(t)
	var schema string
	if err := db.SQL().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	hold, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, "LOCK TABLE "+schema+".audit_head IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			hold.Rollback()
		}
	}
	defer release()

	within := func(name string, f func(ctx context.Context) error, wantErr bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- f(ctx) }()
		select {
		case err := <-done:
			if (err != nil) != wantErr {
				t.Errorf("%s: %v, want error %v", name, err, wantErr)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: still waiting 5s past its 200ms deadline", name)
			release()
			<-done
		}
	}
	// A caller without a deadline prepares the head's query, which waits
	// for the lock.
	go db.AuditHead(context.Background())
	time.Sleep(100 * time.Millisecond)
	// A single-use marker names another table: it is not held up.
	within("a marker on another table", func(ctx context.Context) error {
		_, err := db.Consume(ctx, "t", "m", time.Now().Add(time.Hour))
		return err
	}, false)
	// A caller with a deadline ends with it.
	within("the audit head behind a locked table", func(ctx context.Context) error {
		_, err := db.AuditHead(ctx)
		return err
	}, true)
	release()
	if _, err := db.AuditHead(ctx); err != nil {
		t.Errorf("the head once the lock is gone: %v", err)
	}
}
