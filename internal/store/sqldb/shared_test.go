package sqldb_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// A write that panics in a shared commit takes nothing down with it: its
// transaction is rolled back, the write lock released, and the next
// writes (a single-use marker, a count) commit.
func TestSharedWriteThatPanics(t *testing.T) {
	db := storetest.OpenSQLite(t)
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the write's panic was swallowed")
			}
		}()
		db.Shared(func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO consumed (kind, id, expires_at) VALUES ('t', 'lost', 0)"); err != nil {
				t.Fatal(err)
			}
			panic("boom")
		})
	}()
	done := make(chan error, 1)
	go func() {
		_, err := db.Consume(ctx, "t", "next", time.Now().Add(time.Hour))
		if err == nil {
			_, err = db.Identity().CountAttempt(ctx, "k", time.Now(), time.Minute)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes after the panic hang")
	}
	if used, err := db.Identity().Consumed(ctx, "t", "lost"); err != nil || used {
		t.Errorf("the panicked write was kept: %v %v", used, err)
	}
}
