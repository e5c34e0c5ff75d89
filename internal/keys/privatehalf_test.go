package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestExpiredKeyLosesItsPrivateHalf: once a key retired by a planned
// rotation leaves the JWKS, only its public half is kept in the store,
// without waiting for another rotation: the servers only Load.
func TestExpiredKeyLosesItsPrivateHalf(t *testing.T) {
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.NewSealer(master)
	ctx := context.Background()
	now := time.Now()
	m, err := keys.Open(ctx, st, sealer, &keys.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	old, err := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	kid := kidOf(t, old)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(keys.DefaultPublishBeforeSigning + 24*time.Hour + time.Minute)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sign(keys.EdDSA, "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	k, err := st.Keys().Get(ctx, kid)
	if err != nil {
		t.Fatal(err)
	}
	der, err := sealer.Open(kid, k.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		t.Errorf("key %s expired at %v (now %v) but its private half is still stored", kid, k.ExpiresAt, now)
	}
}

// holdsPrivate reports whether the stored seal of kid still holds the
// key's private half.
func holdsPrivate(t *testing.T, st store.Tenant, sealer *keys.Sealer, kid string) bool {
	t.Helper()
	k, err := st.Keys().Get(context.Background(), kid)
	if err != nil {
		t.Fatal(err)
	}
	der, err := sealer.Open(kid, k.Private)
	if err != nil {
		t.Fatal(err)
	}
	_, err = x509.ParsePKCS8PrivateKey(der)
	return err == nil
}

// TestArchiveExpiredWithoutLoad: ArchiveExpired, which a server calls on
// every background tick, drops the private halves of the keys whose
// publication ended with no Load in between (an idle tenant's server
// loads only when the tenant changes): it logs their kids and nothing of
// the keys, what they signed in the audit trail still checks, and a
// replica that archives next finds nothing left to do. Before the
// expiry, and once archived, it writes nothing.
func TestArchiveExpiredWithoutLoad(t *testing.T) {
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := &testClock{t: time.Now()}
	var logged bytes.Buffer
	m, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	replica, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{} // alg → a token of its retired key
	for _, alg := range keys.Algs {
		if old[alg], err = m.Sign(alg, "", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := replica.Load(ctx); err != nil {
		t.Fatal(err)
	}
	revision := func() int64 {
		t.Helper()
		r, err := st.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Retired, still published: the private halves stay, and nothing is
	// written.
	clock.Advance(keys.DefaultPublishBeforeSigning + time.Hour)
	before := revision()
	if n, err := m.ArchiveExpired(ctx); n != 0 || err != nil {
		t.Fatalf("within the publication: ArchiveExpired = %d, %v", n, err)
	}
	for _, tok := range old {
		if !holdsPrivate(t, st, sealer, kidOf(t, tok)) {
			t.Fatal("a published key lost its private half")
		}
	}
	if r := revision(); r != before {
		t.Errorf("nothing to archive, but the revision moved from %d to %d", before, r)
	}

	// Past the publication, with no Load since.
	clock.Advance(24 * time.Hour)
	if n, err := m.ArchiveExpired(ctx); n != len(keys.Algs) || err != nil {
		t.Fatalf("past the publication: ArchiveExpired = %d, %v; want %d", n, err, len(keys.Algs))
	}
	for alg, tok := range old {
		kid := kidOf(t, tok)
		if holdsPrivate(t, st, sealer, kid) {
			t.Errorf("%s: the expired key %s still has its private half stored", alg, kid)
		}
		if !strings.Contains(logged.String(), kid) {
			t.Errorf("%s: the archiving of %s is not logged:\n%s", alg, kid, logged.String())
		}
		for _, v := range []*keys.Manager{m, replica} {
			if _, err := v.VerifyArchived(tok, ""); err != nil {
				t.Errorf("%s: VerifyArchived of the archived key's token: %v", alg, err)
			}
		}
		if fresh, err := m.Sign(alg, "", []byte(`{}`)); err != nil || kidOf(t, fresh) == kid {
			t.Errorf("%s: signing after the archiving: %v", alg, err)
		}
	}
	if n := strings.Count(logged.String(), "\n"); n != len(keys.Algs) {
		t.Errorf("%d lines logged for %d keys archived:\n%s", n, len(keys.Algs), logged.String())
	}

	// The replica, still holding the keys it loaded before: archiving
	// again is harmless and writes nothing.
	before = revision()
	for _, v := range []*keys.Manager{replica, m} {
		if n, err := v.ArchiveExpired(ctx); n != 0 || err != nil {
			t.Errorf("archiving again: ArchiveExpired = %d, %v", n, err)
		}
	}
	if r := revision(); r != before {
		t.Errorf("archived already, but the revision moved from %d to %d", before, r)
	}
	for alg, tok := range old {
		if _, err := replica.VerifyArchived(tok, ""); err != nil {
			t.Errorf("%s: the replica's VerifyArchived after its archiving: %v", alg, err)
		}
	}
}
