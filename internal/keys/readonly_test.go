package keys_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestReadOnlyWritesNothing: keys opened ReadOnly (for a command that only
// looks) leave the store as it was: no key is made where one is missing,
// an expired key keeps its private half (it leaves the JWKS all the
// same), and a rotation is refused.
func TestReadOnlyWritesNothing(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now()
	clock := func() time.Time { return now }
	m, sealer := openManager(t, st, clock)
	old, err := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(keys.DefaultPublishBeforeSigning + 25*time.Hour) // the retired keys expired
	stored := func() []store.SigningKey {
		ks, err := st.Keys().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ks, func(a, b store.SigningKey) int { return strings.Compare(a.ID, b.ID) })
		return ks
	}
	before := stored()
	ro, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Verify(old, ""); err == nil {
		t.Error("a read-only manager verifies with an expired key")
	}
	if n, err := ro.ArchiveExpired(ctx); n != 0 || err != nil {
		t.Errorf("ArchiveExpired read-only: %d, %v", n, err)
	}
	if err := ro.Rotate(ctx); err == nil {
		t.Error("a read-only manager rotated the keys")
	}
	if after := stored(); !slices.EqualFunc(before, after, func(a, b store.SigningKey) bool {
		return a.ID == b.ID && string(a.Private) == string(b.Private) && a.RetiredAt.Equal(b.RetiredAt) && a.ExpiresAt.Equal(b.ExpiresAt)
	}) {
		t.Errorf("opening the keys read-only changed them: %d keys before, %d after", len(before), len(after))
	}

	// On a store with no keys, none is made.
	empty := storetest.OpenSQLite(t)
	if _, err := keys.Open(ctx, empty, sealer, &keys.Options{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if ks, err := empty.Keys().List(ctx); err != nil || len(ks) != 0 {
		t.Errorf("read-only keys made %d keys (%v)", len(ks), err)
	}
}
