package slip_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/slip"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/slipverify"
)

const issuer = "http://gatehouse.test"

// memAudit keeps events in memory, in the order Record was called.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memAudit) Record(_ context.Context, e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) types() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Type+":"+e.Status)
	}
	return out
}

type fixture struct {
	m     *slip.Minter
	st    *sqldb.DB
	keys  *keys.Manager
	audit *memAudit
	now   *time.Time
}

func newFixture(t testing.TB, st *sqldb.DB) *fixture {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	km, err := keys.Open(context.Background(), st, sealer, &keys.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	a := &memAudit{}
	return &fixture{
		m:     &slip.Minter{Issuer: issuer, Keys: km, Store: st, Audit: a, Now: clock},
		st:    st,
		keys:  km,
		audit: a,
		now:   &now,
	}
}

func openSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var _ store.Consumer = (*sqldb.DB)(nil)

func agent() *slipverify.Actor {
	return &slipverify.Actor{Sub: "acme-assistant", ClientID: "acme-assistant"}
}

// race runs redeem from n goroutines at once and returns how many of them
// succeeded; an error other than slipverify.ErrUsed fails t.
func race(t *testing.T, n int, redeem func() error) int {
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := redeem(); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, slipverify.ErrUsed):
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	return int(wins.Load())
}
