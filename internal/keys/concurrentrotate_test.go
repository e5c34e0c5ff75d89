package keys_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestConcurrentRotations: replicas (each its own database handle)
// rotating at the same moment, by Rotate, RotateNow or in a transaction
// of their own (as `keys rotate` does), leave one key per algorithm that
// is not retired: each rotation retires what the one before it created.
// Deciding on keys read before another replica's rotation committed left
// every rotation's new keys unretired, several "active" keys per
// algorithm, one of which no rotation would ever plan to end.
func TestConcurrentRotations(t *testing.T) {
	sealer, err := keys.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	rotations := map[string]func(ctx context.Context, st *sqldb.DB, m *keys.Manager, fresh keys.Fresh) error{
		"Rotate":    func(ctx context.Context, _ *sqldb.DB, m *keys.Manager, _ keys.Fresh) error { return m.Rotate(ctx) },
		"RotateNow": func(ctx context.Context, _ *sqldb.DB, m *keys.Manager, _ keys.Fresh) error { return m.RotateNow(ctx) },
		"RotateIn": func(ctx context.Context, st *sqldb.DB, m *keys.Manager, fresh keys.Fresh) error {
			return st.InTx(ctx, func(tx store.Tenant) error { return m.RotateIn(ctx, tx, fresh) })
		},
		"RotateNowIn": func(ctx context.Context, st *sqldb.DB, m *keys.Manager, fresh keys.Fresh) error {
			return st.InTx(ctx, func(tx store.Tenant) error { return m.RotateNowIn(ctx, tx, fresh) })
		},
	}
	for _, b := range storetest.Backends(t) {
		for name, rotate := range rotations {
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				st := b.Open(t)
				const replicas = 3
				handles := []*sqldb.DB{st}
				for len(handles) < replicas {
					handles = append(handles, storetest.SecondHandle(t, st))
				}
				ms := make([]*keys.Manager, replicas)
				fresh := make([]keys.Fresh, replicas)
				for i, h := range handles {
					m, err := keys.Open(ctx, h, sealer, nil)
					if err != nil {
						t.Fatal(err)
					}
					ms[i], fresh[i] = m, newKeys(t, m)
				}
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, h := range handles {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if err := rotate(ctx, h, ms[i], fresh[i]); err != nil {
							t.Errorf("replica %d: %v", i, err)
						}
					}()
				}
				close(start)
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
				infos, err := ms[0].List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				unretired := map[string]int{}
				for _, k := range infos {
					if k.Retired.IsZero() {
						unretired[k.Alg]++
					}
				}
				for _, alg := range keys.Algs {
					if unretired[alg] != 1 {
						t.Errorf("%s: %d keys not retired after %d rotations, want 1", alg, unretired[alg], replicas)
					}
				}
				if got, want := len(infos), len(keys.Algs)*(replicas+1); got != want {
					t.Errorf("%d keys stored, want %d (the first and one per rotation, per algorithm)", got, want)
				}
			})
		}
	}
}
