package keys_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func newKeys(t *testing.T, m *keys.Manager) keys.Fresh {
	t.Helper()
	fresh, err := m.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

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
	m, _ := openManager(t, st, time.Now)
	before, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inTx []string
	var tok string
	boom := errors.New("boom")
	fresh := newKeys(t, m)
	err = st.InTx(ctx, func(tx store.Tenant) error {
		if err := m.RotateNowIn(ctx, tx, fresh); err != nil {
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
	if want := slices.Sorted(slices.Values(fresh.IDs())); !slices.Equal(inTx, want) {
		t.Fatalf("active keys in the transaction %v, want those made before it %v", inTx, want)
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
	fresh = newKeys(t, m)
	err = st.InTx(ctx, func(tx store.Tenant) error { return m.RotateNowIn(ctx, tx, fresh) })
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
	fresh = newKeys(t, m)
	err = st.InTx(ctx, func(tx store.Tenant) error {
		if err := m.RotateIn(ctx, tx, fresh); err != nil {
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

// A rotation in a transaction takes keys made before it (an RSA key can
// take a second to make, with the store's write lock held): without them
// it is refused and changes nothing.
func TestRotateInWithoutNewKeys(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	m, _ := openManager(t, st, time.Now)
	before, _ := m.List(ctx)
	err := st.InTx(ctx, func(tx store.Tenant) error { return m.RotateIn(ctx, tx, keys.Fresh{}) })
	if err == nil || !strings.Contains(err.Error(), "NewKeys") {
		t.Fatalf("rotation without new keys: %v", err)
	}
	if after, _ := m.List(ctx); len(after) != len(before) {
		t.Errorf("a refused rotation changed the keys: %d → %d", len(before), len(after))
	}
}
