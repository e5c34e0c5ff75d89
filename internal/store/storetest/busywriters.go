package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(Case{"Identity/WriteBesideBusyWriters", testIdentityWriteBesideBusyWriters})
}

// testIdentityWriteBesideBusyWriters: under a steady stream of write
// transactions (as tool calls' audit records make), the identity
// provider's own writes (a login session here; codes, refresh tokens and
// revocations are written alike) take their turn among them, instead of
// waiting seconds for a moment when no one writes.
func testIdentityWriteBesideBusyWriters(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	defer wg.Wait()
	defer stop.Store(true)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				err := db.InTx(ctx, func(tx store.Tenant) error {
					for j := range 20 {
						if err := tx.SetSetting(ctx, fmt.Sprintf("busy.%d.%d", g, j), fmt.Sprint(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Each write should take a few transactions' time at most; a second
	// leaves room for a slow machine.
	const bound = time.Second
	var slowest time.Duration
	for i, end := 0, time.Now().Add(4*time.Second); time.Now().Before(end); i++ {
		start := time.Now()
		err := db.Identity().CreateSession(ctx, store.LoginSession{ID: fmt.Sprint("s", i), SecretHash: fmt.Sprint("h", i),
			Username: "alice", ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > bound {
		t.Errorf("a login session beside busy writers took %v to store (bound %v)", slowest, bound)
	}
}
