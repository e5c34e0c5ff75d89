package keys_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func kids(infos []keys.Info) []string {
	var out []string
	for _, k := range infos {
		if k.Retired.IsZero() {
			out = append(out, k.ID)
		}
	}
	slices.Sort(out)
	return out
}

// TestRotateIn: an immediate rotation made in a transaction signs with
// the new keys inside it, is stored when it commits, and when it rolls
// back leaves the stored keys as they were, which Load brings the manager
// back to.
func TestRotateIn(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Open(ctx, st, sealer, &keys.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	before, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inTx []string
	var tok string
	boom := errors.New("boom")
	err = st.InTx(ctx, func(tx store.Tenant) error {
		if err := m.RotateNowIn(ctx, tx); err != nil {
			return err
		}
		infos, err := m.ListIn(ctx, tx)
		if err != nil {
			return err
		}
		inTx = kids(infos)
		if tok, err = m.Sign(keys.EdDSA, "JWT", []byte(`{}`)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if len(inTx) != len(keys.Algs) || slices.Equal(inTx, kids(before)) {
		t.Fatalf("active keys in the transaction %v, before %v", inTx, kids(before))
	}
	if !slices.Contains(inTx, kidOf(t, tok)) {
		t.Errorf("signed in the transaction by %s, not a new key %v", kidOf(t, tok), inTx)
	}
	after, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(after), kids(before)) {
		t.Fatalf("a rolled-back rotation changed the stored keys: %v → %v", kids(before), kids(after))
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if tok, err = m.Sign(keys.EdDSA, "JWT", []byte(`{}`)); err != nil || !slices.Contains(kids(before), kidOf(t, tok)) {
		t.Errorf("after Load, signed by %s (%v), want one of %v", kidOf(t, tok), err, kids(before))
	}

	// Committed: the new keys are the stored ones.
	err = st.InTx(ctx, func(tx store.Tenant) error { return m.RotateNowIn(ctx, tx) })
	if err != nil {
		t.Fatal(err)
	}
	if after, _ = m.List(ctx); slices.Equal(kids(after), kids(before)) || len(kids(after)) != len(keys.Algs) {
		t.Errorf("committed rotation: active keys %v (before %v)", kids(after), kids(before))
	}

	// A pre-publishing rotation in a transaction: what is signed in it
	// (the rotation's record) is signed by the keys that sign until the
	// new ones activate.
	before = after
	err = st.InTx(ctx, func(tx store.Tenant) error {
		if err := m.RotateIn(ctx, tx); err != nil {
			return err
		}
		tok, err = m.Sign(keys.EdDSA, "JWT", []byte(`{}`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids(before), kidOf(t, tok)) {
		t.Errorf("signed in a pre-publishing rotation's transaction by %s, want one of the current keys %v", kidOf(t, tok), kids(before))
	}
}
