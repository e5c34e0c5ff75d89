package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(Case{"Identity/UserNow", testUserNow})
}

// testUserNow: UserNow reads the user as committed; where the engine locks
// rows it waits for a transaction changing the user and sees its change,
// but not for one that holds the tenant's lock and changes someone else.
func testUserNow(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	id := db.Identity()
	mustNil(t, db.Users().Create(ctx, store.User{Username: "alice", Email: "a@x"}))
	mustNil(t, db.Users().Create(ctx, store.User{Username: "bob"}))
	u, err := id.UserNow(ctx, "alice")
	mustNil(t, err)
	if u.Email != "a@x" || u.CreatedAt.IsZero() {
		t.Errorf("UserNow: %+v", u)
	}
	if _, err := id.UserNow(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserNow of nobody: %v, want ErrNotFound", err)
	}
	if db.Dialect() != "postgres" {
		return // one writer at a time: the caller's own write waited for any change
	}
	// A transaction holding the tenant's lock, changing alice when
	// change, then waiting for read to end (at most hold); it reports
	// whether read ended first.
	run := func(change bool, hold time.Duration, read func()) (overlapped bool) {
		locked, done, ended := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			ended <- db.InTx(ctx, func(tx store.Tenant) error {
				defer close(locked)
				if err := tx.Lock(ctx); err != nil {
					return err
				}
				if change {
					if err := tx.Users().Update(ctx, "alice", func(u store.User) (store.User, error) {
						u.Disabled = true
						return u, nil
					}); err != nil {
						return err
					}
				}
				locked <- struct{}{}
				select {
				case <-done:
					overlapped = true
				case <-time.After(hold):
				}
				return nil
			})
		}()
		<-locked
		read()
		close(done)
		mustNil(t, <-ended)
		return overlapped
	}
	if !run(false, 10*time.Second, func() {
		if _, err := id.UserNow(ctx, "bob"); err != nil {
			t.Error(err)
		}
	}) {
		t.Error("UserNow waited for a transaction holding the tenant's lock that changes someone else")
	}
	// The change is committed after a moment: time for the read to start
	// and, if it would, read the user as it was.
	var got store.User
	run(true, 300*time.Millisecond, func() {
		got, err = id.UserNow(ctx, "alice")
		mustNil(t, err)
	})
	if !got.Disabled {
		t.Error("UserNow did not wait for the transaction changing the user: it read the user as it was before")
	}
}
