package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/gatehouse/gatehouse/internal/store"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func newManager(t *testing.T, now *time.Time) (*keys.Manager, *keys.Sealer) {
	t.Helper()
	return openManager(t, storetest.OpenSQLite(t), func() time.Time { return *now })
}

// openManager opens the keys of st under a new master key, on clock now.
func openManager(t *testing.T, st store.Tenant, now func() time.Time) (*keys.Manager, *keys.Sealer) {
	t.Helper()
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Open(context.Background(), st, sealer, &keys.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m, sealer
}

func TestSignVerifyRotate(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, &now)
	for _, alg := range keys.Algs {
		tok, err := m.Sign(alg, "at+jwt", []byte(`{"sub":"alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Verify(tok, "at+jwt")
		if err != nil || string(got) != `{"sub":"alice"}` {
			t.Fatalf("%s: Verify = %q, %v", alg, got, err)
		}
		if _, err := m.Verify(tok, "JWT"); !errors.Is(err, keys.ErrWrongType) {
			t.Errorf("%s: wrong typ: %v", alg, err)
		}
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
		if _, err := m.Verify(forged, ""); err == nil {
			t.Errorf("%s: a changed payload verified", alg)
		}
		// alg "none" and a header naming another alg are refused.
		none := `{"alg":"none","kid":"` + kidOf(t, tok) + `"}`
		if _, err := m.Verify(b64(none)+"."+parts[1]+".", ""); err == nil {
			t.Errorf("%s: alg none verified", alg)
		}
	}
	// A planned rotation: once the new keys sign, the retired ones stay
	// published for the grace period, so what they signed still verifies.
	old, _ := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(keys.DefaultPublishBeforeSigning + time.Second)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(old, ""); err != nil {
		t.Errorf("a token of the retired key no longer verifies: %v", err)
	}
	fresh, _ := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if kidOf(t, fresh) == kidOf(t, old) {
		t.Errorf("rotation kept the same key")
	}
	if n := len(jwks(t, m)); n != 4 {
		t.Errorf("JWKS has %d keys, want 4 (two active, two retired)", n)
	}
	for _, k := range jwks(t, m) {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS publishes private member %q", private)
			}
		}
	}
	// After the grace period, the retired key leaves the JWKS.
	now = now.Add(25 * time.Hour)
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(old, ""); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("expired key still verifies: %v", err)
	}
}

// TestRotateNowEndsTrust: an immediate rotation answers a compromised key,
// so the keys it replaces stop vouching for tokens at once (no grace
// period): they leave the JWKS and Verify refuses what they signed, also
// a token it verified before (the verified cache). What they signed stays
// checkable against the archive, for the audit trail.
func TestRotateNowEndsTrust(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	m, _ := newManager(t, &now)
	old, _ := m.Sign(keys.EdDSA, "at+jwt", []byte(`{"sub":"alice"}`))
	if _, err := m.Verify(old, "at+jwt"); err != nil {
		t.Fatal(err)
	}
	if err := m.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(old, "at+jwt"); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("a token of the replaced key after rotate now: %v, want %v", err, keys.ErrUnknownKey)
	}
	if n := len(jwks(t, m)); n != len(keys.Algs) {
		t.Errorf("JWKS has %d keys after rotate now, want %d (the new ones only)", n, len(keys.Algs))
	}
	if _, err := m.VerifyArchived(old, "at+jwt"); err != nil || !m.HasKey(kidOf(t, old)) {
		t.Errorf("the replaced key's signature against the archive: %v", err)
	}
	fresh, _ := m.Sign(keys.EdDSA, "at+jwt", []byte(`{}`))
	if _, err := m.Verify(fresh, "at+jwt"); err != nil || kidOf(t, fresh) == kidOf(t, old) {
		t.Errorf("signed after rotate now by %s (before %s): %v", kidOf(t, fresh), kidOf(t, old), err)
	}
	// A key retired by a planned rotation and still in its grace period
	// ends too: its private half sat in the same store as the
	// compromised one's.
	planned, _ := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(keys.DefaultPublishBeforeSigning + time.Second)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(planned, ""); err != nil {
		t.Fatalf("in the grace period: %v", err)
	}
	if err := m.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(planned, ""); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("a key in its grace period after rotate now: %v, want %v", err, keys.ErrUnknownKey)
	}
}

// jwks returns the keys m publishes.
func jwks(t *testing.T, m *keys.Manager) []map[string]any {
	t.Helper()
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	k1, err := keys.LoadMasterKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keys.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, _ := keys.LoadMasterKey("", dir)
	if string(k1) != string(k2) {
		t.Errorf("master key changed between loads")
	}
	if _, err := keys.LoadMasterKey("not base64!", dir); err == nil {
		t.Errorf("bad master key value accepted")
	}
	s1, _ := keys.NewSealer(k1)
	other := make([]byte, 32)
	s2, _ := keys.NewSealer(other)
	sealed := s1.Seal("kid1", []byte("secret"))
	if _, err := s2.Open("kid1", sealed); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("wrong master key: %v", err)
	}
	if _, err := s1.Open("kid2", sealed); err == nil {
		t.Errorf("a sealed key opened under another kid")
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	raw, _ := b64dec(strings.Split(tok, ".")[0])
	json.Unmarshal(raw, &h)
	return h.Kid
}

// A token verified before is remembered, but only as long as the full
// check would still pass, and what Verify returns is the caller's own.
func TestVerifyRemembers(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, &now)
	tok, err := m.Sign(keys.EdDSA, "at+jwt", []byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := m.Verify(tok, "at+jwt")
		if err != nil || string(got) != `{"sub":"alice"}` {
			t.Fatalf("Verify = %q, %v", got, err)
		}
		got[2] = 'X' // must not change what the next call returns
	}
	if _, err := m.Verify(tok, "JWT"); !errors.Is(err, keys.ErrWrongType) {
		t.Errorf("remembered token, wrong typ: %v", err)
	}
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(tok, "at+jwt"); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("remembered token of a key no longer published: %v", err)
	}
}

// An expired key leaves the JWKS and no token verifies with it, but what
// it signed for the audit trail still verifies through VerifyArchived,
// also after the keys are read again from the store.
func TestArchivedKeysVerifyTheTrail(t *testing.T) {
	now := time.Now()
	m, _ := newManager(t, &now)
	ctx := context.Background()
	var old []string
	for _, alg := range keys.Algs {
		tok, err := m.Sign(alg, "gatehouse-audit-checkpoint+jwt", []byte(`{"seq":1}`))
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, tok)
	}
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range old {
		if _, err := m.Verify(tok, ""); !errors.Is(err, keys.ErrUnknownKey) {
			t.Errorf("an expired key still verifies a token: %v", err)
		}
		got, err := m.VerifyArchived(tok, "gatehouse-audit-checkpoint+jwt")
		if err != nil || string(got) != `{"seq":1}` {
			t.Errorf("VerifyArchived = %q, %v; want the payload", got, err)
		}
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + b64(`{"seq":2}`) + "." + parts[2]
		if _, err := m.VerifyArchived(forged, ""); !errors.Is(err, keys.ErrBadSignature) {
			t.Errorf("a changed payload verified with an archived key: %v", err)
		}
		if _, err := m.VerifyArchived(tok, "JWT"); !errors.Is(err, keys.ErrWrongType) {
			t.Errorf("wrong typ with an archived key: %v", err)
		}
	}
	if _, err := m.VerifyArchived(b64(`{"alg":"EdDSA","kid":"nobody"}`)+"."+b64(`{}`)+".c2ln", ""); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("a key never had verified: %v", err)
	}
}

// TestArchiveTrustsOnlySealedKeys: someone who can write the store but
// has not the master key adds an expired key of their own (its public JWK
// in clear, as every key has): VerifyArchived does not take what it signs,
// so it cannot re-sign a rewritten audit trail.
func TestArchiveTrustsOnlySealedKeys(t *testing.T) {
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.NewSealer(master)
	ctx := context.Background()
	m, err := keys.Open(ctx, st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := json.Marshal(map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub),
		"kid": "rogue", "alg": "EdDSA", "use": "sig"})
	past := time.Now().Add(-48 * time.Hour)
	for _, private := range [][]byte{nil, []byte("not sealed by the master key")} {
		if err := st.Keys().Delete(ctx, "rogue"); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if err := st.Keys().Create(ctx, store.SigningKey{ID: "rogue", Alg: "EdDSA", Private: private, Public: jwk,
			RetiredAt: past, ExpiresAt: past.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := m.Load(ctx); err != nil {
			t.Fatalf("a rogue key row stops the keys loading: %v", err)
		}
		h := b64(`{"alg":"EdDSA","kid":"rogue","typ":"gatehouse-audit-checkpoint+jwt"}`) + "." + b64(`{"seq":1}`)
		tok := h + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(h)))
		if _, err := m.VerifyArchived(tok, ""); !errors.Is(err, keys.ErrUnknownKey) {
			t.Errorf("private %q: a token of a rogue archived key: %v", private, err)
		}
		if m.HasKey("rogue") {
			t.Errorf("private %q: the rogue key is known", private)
		}
	}
}
