package keys_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// onOneStore opens a store and a sealer, and returns how to open a Manager
// on them with its own clock: replicas of one tenant whose clocks differ.
func onOneStore(t *testing.T) func(c *testClock) *keys.Manager {
	t.Helper()
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.NewSealer(master)
	return func(c *testClock) *keys.Manager {
		t.Helper()
		m, err := keys.Open(context.Background(), st, sealer, &keys.Options{Now: c.Now})
		if err != nil {
			t.Fatalf("open the keys on a clock at %v: %v", c.Now(), err)
		}
		return m
	}
}

// testClock is a clock two managers share.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// relyingParty verifies a token with a JWKS it fetched once, as an API
// verifying slips or access tokens does between refetches.
func relyingParty(t *testing.T, jwks []byte, tok string) error {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, Kty, Alg, X, N, E string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig, err := b64dec(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	input := []byte(parts[0] + "." + parts[1])
	for _, k := range set.Keys {
		if k.Kid != kidOf(t, tok) {
			continue
		}
		switch k.Alg {
		case keys.EdDSA:
			x, _ := b64dec(k.X)
			if !ed25519.Verify(ed25519.PublicKey(x), input, sig) {
				return errors.New("bad signature")
			}
			return nil
		case keys.RS256:
			n, _ := b64dec(k.N)
			e, _ := b64dec(k.E)
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			sum := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
		}
	}
	return errors.New("unknown key " + kidOf(t, tok))
}

func kidsIn(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// TestRotatePublishesBeforeSigning: a rotation publishes the new keys at
// once but keeps signing with the current ones for PublishBeforeSigning;
// then the new keys sign, on this manager and on another over the same
// store (a replica) alike, without either reloading, and a relying party
// that fetched the JWKS right after the rotation verifies what they sign
// without fetching it again. The retired keys stay published.
func TestRotatePublishesBeforeSigning(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	master, err := keys.LoadMasterKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.NewSealer(master)
	clock := &testClock{t: time.Now()}
	open := func() *keys.Manager {
		m, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m, replica := open(), open()
	signer := func(m *keys.Manager, alg string) string {
		t.Helper()
		tok, err := m.Sign(alg, "at+jwt", []byte(`{"sub":"alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := map[string]string{}
	for _, alg := range keys.Algs {
		old[alg] = kidOf(t, signer(m, alg))
	}

	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := map[string]string{}
	for _, k := range infos {
		if k.Pending(clock.Now()) {
			fresh[k.Alg] = k.ID
			if want := clock.Now().Add(keys.DefaultPublishBeforeSigning); !k.Activates.Equal(want) {
				t.Errorf("key %s activates at %v, want %v", k.ID, k.Activates, want)
			}
		} else if k.ID == old[k.Alg] && (!k.Signs(clock.Now()) || k.Retired.IsZero()) {
			t.Errorf("the current key %s after a rotation: %+v, want signing until the new one activates", k.ID, k)
		}
	}
	if len(fresh) != len(keys.Algs) {
		t.Fatalf("pending keys after a rotation: %v, want one per algorithm", fresh)
	}
	jwks := m.JWKS() // what a relying party fetches right after
	for _, alg := range keys.Algs {
		if !slices.Contains(kidsIn(t, jwks), fresh[alg]) || !slices.Contains(kidsIn(t, jwks), old[alg]) {
			t.Fatalf("JWKS after a rotation %v, want the new %s and the current %s", kidsIn(t, jwks), fresh[alg], old[alg])
		}
	}

	// Until the new keys activate, the current ones sign, here and on a
	// replica that has reloaded (as the server does every few seconds).
	if err := replica.Load(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(keys.DefaultPublishBeforeSigning - time.Second)
	for _, alg := range keys.Algs {
		for name, mm := range map[string]*keys.Manager{"rotating manager": m, "replica": replica} {
			if kid := kidOf(t, signer(mm, alg)); kid != old[alg] {
				t.Errorf("%s: %s signed before the activation by %s, want the current %s", name, alg, kid, old[alg])
			}
		}
	}

	// Activated: the new keys sign everywhere, and the relying party's
	// JWKS, fetched before, verifies what they sign.
	clock.Advance(time.Second)
	for _, alg := range keys.Algs {
		for name, mm := range map[string]*keys.Manager{"rotating manager": m, "replica": replica} {
			tok := signer(mm, alg)
			if kid := kidOf(t, tok); kid != fresh[alg] {
				t.Errorf("%s: %s signed after the activation by %s, want the new %s", name, alg, kid, fresh[alg])
			}
			if err := relyingParty(t, jwks, tok); err != nil {
				t.Errorf("%s: a relying party with the JWKS of the rotation refuses a %s token: %v", name, alg, err)
			}
			if _, err := mm.Verify(tok, "at+jwt"); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	// The retired keys stay published for PublishAfterRetire from then.
	clock.Advance(23 * time.Hour)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, alg := range keys.Algs {
		if !slices.Contains(kidsIn(t, m.JWKS()), old[alg]) {
			t.Errorf("the retired %s key %s left the JWKS within a day of its retirement", alg, old[alg])
		}
	}
}

// TestRotateNow: an immediate rotation (a compromised key) signs with the
// new keys at once, also when a pre-published key is pending: that one is
// retired before it ever signs.
func TestRotateNow(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	m, _ := newManager(t, &now)
	current, _ := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var signing []string
	for _, k := range infos {
		if k.Signs(now) {
			signing = append(signing, k.ID)
		}
	}
	tok, _ := m.Sign(keys.EdDSA, "", []byte(`{}`))
	if len(signing) != len(keys.Algs) || !slices.Contains(signing, kidOf(t, tok)) || kidOf(t, tok) == kidOf(t, current) {
		t.Errorf("after rotate now: signed by %s (before %s), signing keys %v", kidOf(t, tok), kidOf(t, current), signing)
	}
	for _, later := range []time.Duration{keys.DefaultPublishBeforeSigning, time.Hour} {
		now = now.Add(later)
		if tok, _ := m.Sign(keys.EdDSA, "", []byte(`{}`)); !slices.Contains(signing, kidOf(t, tok)) {
			t.Errorf("%v after rotate now: signed by %s, want one of %v", later, kidOf(t, tok), signing)
		}
	}
}

// TestLoadKeyArchivedByAheadClock: a rotation archives a key (drops its
// private half) once the key's publication ended by the rotating
// process's clock. A replica whose clock lags a little still sees the key
// as published: its Load must not fail on the archived key (a failed
// reload leaves the replica without the rotation's new keys; a failed
// Open keeps it from starting), nor may it sign with it or publish more
// than its public half.
func TestLoadKeyArchivedByAheadClock(t *testing.T) {
	ctx := context.Background()
	open := onOneStore(t)
	replicaClock := &testClock{t: time.Now()}
	cliClock := &testClock{t: replicaClock.Now().Add(time.Minute)} // a minute ahead
	replica, cli := open(replicaClock), open(cliClock)
	old, err := replica.Sign(keys.EdDSA, "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Rotate(ctx); err != nil { // the old keys retire in 10 min, published for 24 h from then
		t.Fatal(err)
	}
	if err := replica.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// A day later: by the CLI's clock the old keys' publication has just
	// ended, by the replica's it has not.
	later := keys.DefaultPublishBeforeSigning + 24*time.Hour + 30*time.Second
	replicaClock.Advance(later)
	cliClock.Advance(later)
	if err := cli.Rotate(ctx); err != nil { // archives the old keys
		t.Fatal(err)
	}
	if err := replica.Load(ctx); err != nil {
		t.Fatalf("a replica whose clock lags a minute cannot reload after a rotation archived a key: %v", err)
	}
	open(replicaClock) // a server whose clock lags a minute starts after a rotation archived a key
	tok, err := replica.Sign(keys.EdDSA, "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, tok) == kidOf(t, old) {
		t.Errorf("signed by the archived key %s", kidOf(t, old))
	}
	if _, err := replica.VerifyArchived(old, ""); err != nil {
		t.Errorf("what the archived key signed no longer verifies against the archive: %v", err)
	}
	if strings.Contains(string(replica.JWKS()), `"d"`) {
		t.Errorf("JWKS publishes a private part: %s", replica.JWKS())
	}
}
