package server

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// sealedStore is a store with its signing keys under a master key of its
// own, as a data folder has.
func sealedStore(t *testing.T) (*sqldb.DB, *keys.Manager) {
	t.Helper()
	st := storetest.OpenSQLite(t)
	mk := make([]byte, 32)
	rand.Read(mk)
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Open(context.Background(), st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, ks
}

// applyRetention applies a tenant file setting retention (none when
// empty), sealed by sealer when it is not nil, as `gatehouse apply` does.
func applyRetention(t *testing.T, st store.Store, retention string, sealer config.SettingSealer) config.Plan {
	t.Helper()
	src := "tenant: acme\n"
	if retention != "" {
		src += "audit:\n  retention: " + retention + "\n"
	}
	f, err := config.Parse(strings.NewReader(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := config.Apply(context.Background(), st, f, config.Argon2, &config.ApplyOptions{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestRetentionReadFailure: a failure to read the retention setting is
// an error, for the caller to keep what it has and try again, not "no
// retention set", which would silently turn pruning off.
func TestRetentionReadFailure(t *testing.T) {
	st, ks := sealedStore(t)
	ctx := context.Background()
	s := &Server{Store: st, Keys: ks}
	if d, err := s.retention(ctx); d != 0 || err != nil {
		t.Errorf("none set: %v %v, want 0 and no error", d, err)
	}
	applyRetention(t, st, "90d", ks)
	if d, err := s.retention(ctx); d != 90*24*time.Hour || err != nil {
		t.Errorf("90d: %v %v", d, err)
	}
	st.Close() // the database gone, as in an outage
	if d, err := s.retention(ctx); err == nil || errors.Is(err, errRetentionUnsealed) {
		t.Errorf("a failed read gave retention %v and %v", d, err)
	}
}

// TestRetentionNeedsItsSeal: the servers apply only a retention that a
// tenant file set with the data folder's master key. Whoever can write
// the database but not read that key cannot have the history pruned (the
// prune would leave a signed checkpoint, and verify would find nothing
// wrong): not by writing a short retention, not by reusing the seal of
// another value or another master key's. An apply seals again what is
// stored unsealed, and applying a file twice changes nothing.
func TestRetentionNeedsItsSeal(t *testing.T) {
	st, ks := sealedStore(t)
	ctx := context.Background()
	s := &Server{Store: st, Keys: ks}
	want := func(what string, d time.Duration, unsealed bool) {
		t.Helper()
		got, err := s.retention(ctx)
		if got != d || errors.Is(err, errRetentionUnsealed) != unsealed || (err != nil && !unsealed) {
			t.Errorf("%s: retention %v, %v; want %v (unsealed: %v)", what, got, err, d, unsealed)
		}
	}
	applyRetention(t, st, "90d", ks)
	want("applied", 90*24*time.Hour, false)
	seal90, err := st.Setting(ctx, config.SettingRetentionSeal)
	if err != nil || seal90 == "" {
		t.Fatalf("no seal stored: %q %v", seal90, err)
	}
	if plan := applyRetention(t, st, "90d", ks); len(plan) != 0 {
		t.Errorf("the same file again planned %v", plan)
	}
	if again, _ := st.Setting(ctx, config.SettingRetentionSeal); again != seal90 {
		t.Error("the same file again sealed the retention again")
	}

	// A write to the database.
	if err := st.SetSetting(ctx, "audit.retention", "1h"); err != nil {
		t.Fatal(err)
	}
	want("written directly", 0, true)
	// The seal of another master key.
	other, oks := sealedStore(t)
	defer other.Close()
	if err := st.SetSetting(ctx, config.SettingRetentionSeal, oks.SealSetting("audit.retention", "1h")); err != nil {
		t.Fatal(err)
	}
	want("sealed by another master key", 0, true)
	// The seal of this key for another setting, and garbage.
	for _, seal := range []string{ks.SealSetting("audit.raw_arguments", "1h"), "", "not base64!", "AAAA"} {
		if err := st.SetSetting(ctx, config.SettingRetentionSeal, seal); err != nil {
			t.Fatal(err)
		}
		want("seal "+seal, 0, true)
	}
	// Back to the value sealed: it holds again.
	if err := st.SetSetting(ctx, config.SettingRetentionSeal, seal90); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, "audit.retention", "90d"); err != nil {
		t.Fatal(err)
	}
	want("the sealed value restored", 90*24*time.Hour, false)

	// Applied without the master key (no sealer): stored, not applied,
	// until an apply that has it.
	applyRetention(t, st, "30d", nil)
	want("applied without a sealer", 0, true)
	if plan := applyRetention(t, st, "30d", ks); len(plan) != 0 {
		t.Errorf("sealing the stored retention planned %v", plan)
	}
	want("sealed by a later apply", 30*24*time.Hour, false)
	// A file without a retention keeps everything and drops the seal.
	applyRetention(t, st, "", ks)
	want("none", 0, false)
	if seal, _ := st.Setting(ctx, config.SettingRetentionSeal); seal != "" {
		t.Errorf("the seal stays once the retention is gone: %q", seal)
	}
}
