package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// A write made for a request stops waiting for the write turn (SQLite's
// one writer) when the request ends: behind a commit that does not end (a
// stalled disk), each request answers at its deadline with the reason,
// instead of piling up until the turn comes. The turn is not lost to
// those that gave up.
func TestWriteTurnWaitEndsWithContext(t *testing.T) {
	db := storetest.OpenSQLite(t)
	unlock := db.LockWrites() // the stalled writer
	writes := map[string]func(ctx context.Context) error{
		"transaction": func(ctx context.Context) error {
			return db.Tx(ctx, func(tx *sql.Tx) error { return nil })
		},
		"identity write": func(ctx context.Context) error {
			_, err := db.Identity().CountAttempt(ctx, "k", time.Now(), time.Minute)
			return err
		},
		"stream cursor": func(ctx context.Context) error {
			return db.SetAuditCursor(ctx, "s", 1)
		},
		"single-use marker": func(ctx context.Context) error {
			_, err := db.Consume(ctx, "t", "m", time.Now().Add(time.Hour))
			return err
		},
		"marker purge": func(ctx context.Context) error {
			_, err := db.PurgeConsumed(ctx, time.Now())
			return err
		},
	}
	for name, write := range writes {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- write(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s behind a stalled writer: %v, want the deadline", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s waited for the write turn past its request's end", name)
			unlock()
			<-done
			unlock = db.LockWrites()
		}
		cancel()
	}
	unlock()
	// The marker whose request gave up was taken out of the shared queue:
	// the next shared commit does not write it behind its caller's back.
	if _, err := db.Consume(context.Background(), "t", "next", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if used, err := db.Identity().Consumed(context.Background(), "t", "m"); err != nil || used {
		t.Errorf("a marker whose request gave up was committed later: %v %v", used, err)
	}
	for name, write := range writes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := write(ctx); err != nil {
			t.Errorf("%s once the turn is free: %v", name, err)
		}
		cancel()
	}
}
