package keys_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestFirstKeysOnce: replicas starting together on a store without keys
// (each its own database handle) make one set of first keys between them,
// so every replica signs with the same key and takes the others' tokens.
// Each creating its own would leave several active keys, and a replica
// refusing another's tokens as signed by an unknown key until it reloads.
func TestFirstKeysOnce(t *testing.T) {
	sealer, err := keys.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			const replicas = 4
			handles := []*sqldb.DB{st}
			for len(handles) < replicas {
				handles = append(handles, storetest.SecondHandle(t, st))
			}
			ms := make([]*keys.Manager, replicas)
			var wg sync.WaitGroup
			for i, h := range handles {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m, err := keys.Open(ctx, h, sealer, nil)
					if err != nil {
						t.Errorf("replica %d: %v", i, err)
						return
					}
					ms[i] = m
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			stored, err := st.Keys().List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != len(keys.Algs) {
				t.Errorf("%d keys stored, want %d (one per algorithm)", len(stored), len(keys.Algs))
			}
			for _, alg := range keys.Algs {
				kids := map[string]bool{}
				for i, m := range ms {
					tok, err := m.Sign(alg, "", []byte(`{}`))
					if err != nil {
						t.Fatal(err)
					}
					kids[kidOf(t, tok)] = true
					for j, other := range ms {
						if _, err := other.Verify(tok, ""); err != nil {
							t.Errorf("%s: replica %d refuses replica %d's token: %v", alg, j, i, err)
						}
					}
				}
				if len(kids) != 1 {
					t.Errorf("%s: the replicas sign with %d different keys", alg, len(kids))
				}
			}
		})
	}
}
