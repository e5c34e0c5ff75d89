package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(
		Case{"LockOrder/WriteBesideLockedTx", testWriteBesideLockedTx},
		Case{"LockOrder/PruneBesideLockedTx", testPruneBesideLockedTx},
	)
}

// lockedTxThen runs, beside a transaction that takes the tenant's lock
// first (as the admin commands, the tenant file, the gateway's imports and
// approvals and federated sign-ins do) and then changes the client "c",
// another write of the store (other), started once the lock is held and
// given time to take whatever it takes before the transaction goes on.
// Both must succeed: neither may hold what the other waits for.
func lockedTxThen(t *testing.T, db *sqldb.DB, other func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	locked := make(chan struct{})
	var (
		wg             sync.WaitGroup
		txErr, otherEr error
	)
	wg.Go(func() {
		txErr = db.InTx(ctx, func(tx store.Tenant) error {
			if err := tx.Lock(ctx); err != nil {
				return err
			}
			close(locked)
			// Time for the other write to lock what it locks first.
			time.Sleep(300 * time.Millisecond)
			return tx.Clients().Update(ctx, "c", func(old store.Client) (store.Client, error) {
				old.Name = "renamed by the locked transaction"
				return old, nil
			})
		})
	})
	wg.Go(func() {
		<-locked
		otherEr = other(ctx)
	})
	wg.Wait()
	if txErr != nil {
		t.Errorf("the transaction that took the tenant's lock first: %v", txErr)
	}
	if otherEr != nil {
		t.Errorf("the write beside it: %v", otherEr)
	}
}

// testWriteBesideLockedTx: a write outside a transaction (a metadata
// client refreshed, a tool imported) of a record that a transaction
// holding the tenant's lock changes next waits for that transaction
// instead of deadlocking with it: a write takes the tenant revision's lock
// before the record's, in the order Lock takes them.
func testWriteBesideLockedTx(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	mustNil(t, db.Clients().Create(ctx, store.Client{ClientID: "c", Kind: store.KindAgent, Source: store.SourceMetadata}))
	lockedTxThen(t, db, func(ctx context.Context) error {
		return db.Clients().Update(ctx, "c", func(old store.Client) (store.Client, error) {
			old.RedirectURIs = []string{"https://c.example/cb"}
			return old, nil
		})
	})
	got, err := db.Clients().Get(ctx, "c")
	mustNil(t, err)
	if got.Name == "" || len(got.RedirectURIs) != 1 {
		t.Errorf("a change was lost: %+v", got)
	}
}

// testPruneBesideLockedTx: the removal of unused clients waits for a
// transaction holding the tenant's lock instead of locking a client that
// transaction changes next and deadlocking with it.
func testPruneBesideLockedTx(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	mustNil(t, db.Clients().Create(ctx, store.Client{ClientID: "c", Kind: store.KindAgent, Source: store.SourceRegistered}))
	cut := micro(time.Now()).Add(time.Minute)
	lockedTxThen(t, db, func(ctx context.Context) error {
		_, err := db.PruneClients(ctx, cut, 10, cut.Add(time.Hour))
		return err
	})
}
