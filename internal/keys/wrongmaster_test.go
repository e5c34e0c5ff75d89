package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestWrongMasterKeyAddsNoKey: a store lacking the key of an algorithm
// (one made before the algorithm was added to Algs) opened under the
// wrong master key is refused before anything is written. Making the
// missing key first sealed it under the wrong master key, so that once
// the right one was back every start failed on that key, and the tokens
// of the tenant's real keys with it.
func TestWrongMasterKeyAddsNoKey(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	m, sealer := openManager(t, st, time.Now)
	tok, err := m.Sign(keys.RS256, "JWT", []byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Keys().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if k.Alg == keys.EdDSA {
			if err := st.Keys().Delete(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	wrong, err := keys.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Open(ctx, st, wrong, nil); err == nil {
		t.Fatal("opened under the wrong master key")
	}
	after, err := st.Keys().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(stored)-1 {
		t.Errorf("%d keys stored after the refused start, want %d: a key was made under the wrong master key", len(after), len(stored)-1)
	}
	right, err := keys.Open(ctx, st, sealer, nil)
	if err != nil {
		t.Fatalf("the right master key no longer opens the store: %v", err)
	}
	if _, err := right.Verify(tok, "JWT"); err != nil {
		t.Errorf("a token of the tenant's key: %v", err)
	}
	if _, err := right.Sign(keys.EdDSA, "", []byte(`{}`)); err != nil {
		t.Errorf("no EdDSA key made under the right master key: %v", err)
	}
}
