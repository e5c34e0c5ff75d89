package server

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestIdleTickArchivesExpiredKeys: on an idle tenant (no change since the
// keys were loaded, so no reload) a background tick still drops the
// private half of a retired key once its publication has ended, as the
// README promises of 'keys rotate', rather than at the next change of the
// tenant (the next rotation, months later).
func TestIdleTickArchivesExpiredKeys(t *testing.T) {
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
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ks, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ks.Sign(keys.EdDSA, "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	retired, err := ks.List(ctx) // the keys the rotation retires
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Keys: ks, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rev := s.tick(ctx, -1) // the first tick loads the rotated keys
	mu.Lock()
	now = now.Add(keys.DefaultPublishBeforeSigning + 24*time.Hour + time.Minute)
	mu.Unlock()
	if r := s.tick(ctx, rev); r != rev {
		t.Fatalf("the tenant changed between the ticks (revision %d, then %d): the test needs it idle", rev, r)
	}
	for _, r := range retired {
		k, err := st.Keys().Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		der, err := sealer.Open(k.ID, k.Private)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			t.Errorf("key %s expired at %v (now %v), a tick passed, but its private half is still stored", k.ID, k.ExpiresAt, clock())
		}
	}
	if _, err := ks.VerifyArchived(tok, ""); err != nil {
		t.Errorf("VerifyArchived of the archived key's token: %v", err)
	}
}
