package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Options tune a Manager. The zero value is the default.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublishAfterRetire is how long a key retired by Rotate stays in the
	// JWKS so that tokens it signed still verify; zero means 24 hours,
	// longer than any token Gatehouse signs lives. RotateNow allows none.
	PublishAfterRetire time.Duration
	// PublishBeforeSigning is how long Rotate publishes a new key before it
	// signs, so that relying parties holding a cached JWKS (served with
	// max-age 300 s; slip verifiers refetch at most every 30 s) know the
	// key before they meet it, and every replica has reloaded it (they do
	// every 10 s); zero means DefaultPublishBeforeSigning.
	PublishBeforeSigning time.Duration
	// Logger is told (at info, by kid) when an expired key's private half
	// is dropped; nil discards it.
	Logger *slog.Logger
	// ReadOnly opens the keys for a command that only looks (keys list,
	// audit verify): the manager never writes the store. Load neither
	// creates a missing key nor archives an expired one (the expired key
	// leaves the JWKS all the same, in memory), ArchiveExpired drops
	// nothing, and the rotations are refused.
	ReadOnly bool
}

// DefaultPublishBeforeSigning is the pre-publication period of a rotation:
// twice the JWKS's max-age, for HTTP caches, slip verifiers' refetch delay
// and replicas' reloads.
const DefaultPublishBeforeSigning = 10 * time.Minute

// Manager signs with the tenant's active keys and verifies against every
// published one. It is safe for concurrent use.
type Manager struct {
	st     store.Tenant // a store.Store, or a transaction of one
	sealer *Sealer
	now    func() time.Time
	grace  time.Duration
	ahead  time.Duration // PublishBeforeSigning
	log    *slog.Logger
	// readOnly: Options.ReadOnly.
	readOnly bool

	mu   sync.Mutex // serialises Load, Rotate and ArchiveExpired
	snap atomic.Pointer[snapshot]

	verified verifiedCache // tokens whose signature checked out
}

type signer struct {
	kid  string
	alg  string
	priv crypto.Signer
	// from and until bound when the key signs: from its activation (zero:
	// from its creation) until its retirement (zero: no end planned).
	from, until time.Time
	// activated is when the key took or takes over: its activation, or
	// its creation. Of the keys that may sign, the last activated does.
	activated time.Time
}

// signs reports whether s is the key to sign with at now.
func (s signer) signs(now time.Time) bool {
	return !now.Before(s.from) && (s.until.IsZero() || now.Before(s.until))
}

type snapshot struct {
	// signers are, by alg, the keys that sign now or will: Sign picks the
	// one whose time it is, so that a pre-published key takes over when
	// it activates on every replica, without a reload or a coordination.
	signers map[string][]signer
	public  map[string]publicKey // kid → published key
	// archive holds the public halves of keys past their publication:
	// no token verifies with them any more, but the audit trail's old
	// signatures still must (VerifyArchived).
	archive map[string]publicKey
	// private holds the kids of the keys whose stored seal still holds
	// the private half (not archived yet), so that ArchiveExpired can
	// tell from memory whether the store has anything to archive.
	private map[string]bool
	jwks    []byte
	// keys are the stored keys the snapshot was built from, and until
	// the earliest expiry among the published ones (zero: none planned):
	// from then on the snapshot is out of date even if the store is not,
	// and current builds the next from keys (see current).
	keys  []store.SigningKey
	until time.Time
}

// Algs are the algorithms a tenant always has an active key for.
var Algs = []string{RS256, EdDSA}

// Open loads the tenant's keys from st, creating an active key for every
// algorithm that has none. st is a store.Store (the first keys are made
// in one of its transactions, so that replicas starting together agree
// on them), or a transaction of one.
func Open(ctx context.Context, st store.Tenant, sealer *Sealer, opts *Options) (*Manager, error) {
	m := &Manager{st: st, sealer: sealer, now: time.Now, grace: 24 * time.Hour, ahead: DefaultPublishBeforeSigning,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if opts != nil {
		if opts.Now != nil {
			m.now = opts.Now
		}
		if opts.Logger != nil {
			m.log = opts.Logger
		}
		if opts.PublishAfterRetire > 0 {
			m.grace = opts.PublishAfterRetire
		}
		if opts.PublishBeforeSigning > 0 {
			m.ahead = opts.PublishBeforeSigning
		}
		m.readOnly = opts.ReadOnly
	}
	if err := m.Load(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Load rereads the keys from the store (another replica may have rotated
// them), creates any missing active key and archives the expired ones
// (see ArchiveExpired).
func (m *Manager) Load(ctx context.Context) error {
	return m.load(ctx, m.st)
}

// load is Load from t (the store, or a transaction of it).
func (m *Manager) load(ctx context.Context, t store.Tenant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	all, err := t.Keys().List(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if len(missing(all)) > 0 {
		if err := m.opensStored(all); err != nil {
			return err
		}
	}
	if len(missing(all)) > 0 && !m.readOnly {
		if all, err = m.createMissing(ctx, t, missing(all)); err != nil {
			return err
		}
	}
	snap, err := m.build(all)
	if err != nil {
		return err
	}
	// A key that left the JWKS keeps only its public half from then on,
	// whoever loads first: waiting for the next rotation would leave a
	// private key that no longer vouches for anything in every copy of
	// the store (a backup) for months.
	if len(snap.unarchived(m.now())) > 0 && !m.readOnly {
		if _, all, err = m.archiveExpired(ctx, t); err != nil {
			return err
		}
		if snap, err = m.build(all); err != nil {
			return err
		}
	}
	m.snap.Store(snap)
	return nil
}

// opensStored returns an error unless the master key opens the stored
// keys: every published one, and at least one when there are any. It is
// checked before a missing key is made, which would otherwise be sealed
// under a wrong master key, and stored: with the right master key back,
// every start would then fail on that key.
func (m *Manager) opensStored(all []store.SigningKey) error {
	if len(all) == 0 {
		return nil
	}
	snap, err := m.build(slices.Clone(all))
	if err != nil {
		return err
	}
	if len(snap.public)+len(snap.archive) == 0 {
		return errors.New("no stored signing key can be unsealed: wrong master key?")
	}
	return nil
}

// ArchiveExpired drops the private half of every key whose publication
// has ended (the public half stays, sealed, for VerifyArchived) and
// reports how many it dropped. Load does it too, but a server loads the
// keys only when the tenant changes, which the passing of time does not:
// a server calls ArchiveExpired periodically so that an idle tenant's
// retired keys lose their private half as they leave the JWKS, not when
// something else happens to change. It is cheap when there is nothing to
// archive: the manager's keys tell (they are at most as old as the last
// change a Load picked up), and the store is neither read nor written.
// When there is, it is done as in Load, and the keys are reloaded.
func (m *Manager) ArchiveExpired(ctx context.Context) (int, error) {
	if m.readOnly || len(m.snap.Load().unarchived(m.now())) == 0 {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dropped, all, err := m.archiveExpired(ctx, m.st)
	if err != nil {
		return 0, err
	}
	snap, err := m.build(all)
	if err != nil {
		return len(dropped), err
	}
	m.snap.Store(snap)
	return len(dropped), nil
}

// archiveExpired archives, in t, every key expired by the manager's clock
// whose private half is still stored, and returns their kids and every
// key, read again. Several replicas may find the same keys to archive at
// once: as createMissing, it reads and writes in one transaction holding
// the tenant's lock, so the first archives and the others, reading after
// it, find nothing left to do, and write nothing (a write would move the
// tenant's revision, and make every replica reload once more). In a
// transaction t of the caller's, the archiving stands or falls with it:
// it is logged only when made here, in a transaction of its own.
func (m *Manager) archiveExpired(ctx context.Context, t store.Tenant) (dropped []string, all []store.SigningKey, err error) {
	now := m.now()
	run := func(tx store.Tenant) error {
		dropped = dropped[:0]
		keys, cur, err := lockedKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range cur {
			if !expired(k, now) {
				continue
			}
			if _, private, ok := m.archived(k); !ok || !private {
				continue
			}
			switch err := m.archive(ctx, keys, k); {
			case err == nil:
				dropped = append(dropped, k.ID)
			case !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("archive key %s: %w", k.ID, err)
			}
		}
		if all, err = keys.List(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		return nil
	}
	s, own := t.(store.Store)
	if own {
		err = s.InTx(ctx, run)
	} else {
		err = run(t) // t is a transaction already
	}
	if err != nil {
		return nil, nil, err
	}
	if own {
		for _, kid := range dropped {
			// The kid only: the package never logs key material.
			m.log.Info("signing key archived: its publication ended, its private half is dropped", "kid", kid)
		}
	}
	return dropped, all, nil
}

// unarchived returns the kids of the snapshot's keys expired at now whose
// private half is still stored.
func (s *snapshot) unarchived(now time.Time) []string {
	var out []string
	for _, k := range s.keys {
		if s.private[k.ID] && expired(k, now) {
			out = append(out, k.ID)
		}
	}
	return out
}

// expired reports whether k's publication has ended at now: from its
// expiry on, at that instant already (see build).
func expired(k store.SigningKey, now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// current returns the snapshot to sign and verify with at the manager's
// clock. A retired key's publication ends at its expiry, whether or not
// the keys are loaded again by then (a server reloads them when the
// tenant changes, which the passing of time does not): past the
// snapshot's until, the keys it was built from are built again, which
// moves the expired ones to the archive, out of the JWKS and out of
// Verify's reach. build cannot fail there: it built the same keys before,
// and a key past its expiry takes the path that never fails; should it
// still, the expired keys are dropped from what the old snapshot trusts.
func (m *Manager) current() *snapshot {
	s := m.snap.Load()
	now := m.now()
	if s.until.IsZero() || now.Before(s.until) {
		return s
	}
	next, err := m.build(slices.Clone(s.keys))
	if err != nil {
		next = s.without(now)
	}
	// A Load that stored a newer snapshot meanwhile wins.
	if m.snap.CompareAndSwap(s, next) {
		return next
	}
	return m.snap.Load()
}

// without returns s without the keys expired at now, for current.
func (s *snapshot) without(now time.Time) *snapshot {
	out := *s
	out.public = map[string]publicKey{}
	out.until = time.Time{}
	expired := map[string]bool{}
	for _, k := range s.keys {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			expired[k.ID] = true
		}
	}
	var jwks []map[string]any
	for kid, p := range s.public {
		if !expired[kid] {
			out.public[kid] = p
			jwks = append(jwks, p.jwk)
		}
	}
	out.jwks, _ = json.Marshal(map[string]any{"keys": jwks})
	return &out
}

// missing returns the algorithms of Algs that no key of all signs for,
// now or planned (a key not retired).
func missing(all []store.SigningKey) []string {
	have := map[string]bool{}
	for _, k := range all {
		if k.RetiredAt.IsZero() {
			have[k.Alg] = true
		}
	}
	var out []string
	for _, alg := range Algs {
		if !have[alg] {
			out = append(out, alg)
		}
	}
	return out
}

// createMissing creates a key for each of algs that still has none, and
// returns every key. Replicas starting together on an empty store would
// each create their own, and refuse the others' tokens until they
// reload: so the keys are read again and created in one transaction
// holding the tenant's lock (store.Tenant.Lock), and the first to hold
// it decides for all. The keys are generated before (an RSA key takes a
// while), and those another replica made meanwhile are dropped.
func (m *Manager) createMissing(ctx context.Context, t store.Tenant, algs []string) ([]store.SigningKey, error) {
	fresh := make([]store.SigningKey, 0, len(algs))
	for _, alg := range algs {
		k, err := m.generate(alg)
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, k)
	}
	var all []store.SigningKey
	decide := func(tx store.Tenant) error {
		keys, cur, err := lockedKeys(ctx, tx)
		if err != nil {
			return err
		}
		still := missing(cur)
		for _, k := range fresh {
			if !slices.Contains(still, k.Alg) {
				continue
			}
			if err := keys.Create(ctx, k); err != nil {
				return fmt.Errorf("store new signing key: %w", err)
			}
		}
		if all, err = keys.List(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		return nil
	}
	var err error
	if s, ok := t.(store.Store); ok {
		err = s.InTx(ctx, decide)
	} else {
		err = decide(t) // t is a transaction already
	}
	return all, err
}

// Rotate creates new keys, published at once but signing only after
// PublishBeforeSigning, and plans the retirement of the current ones for
// then: until the new keys activate, the current ones sign. Every replica
// switches at the activation time by its own clock (Sign picks the key
// whose time it is), once it has loaded the new keys, which a replica does
// within seconds. Retired keys stay published for PublishAfterRetire from
// their retirement, then leave the JWKS and lose their private half; the
// public half stays in the archive, so that what they signed in the audit
// trail can still be checked.
func (m *Manager) Rotate(ctx context.Context) error {
	fresh, err := m.NewKeys()
	if err != nil {
		return err
	}
	return m.rotate(ctx, m.st, fresh, false)
}

// RotateNow is Rotate with the new keys signing at once and the current
// ones retired now: for a key that must stop signing (compromised). It
// must stop vouching too, so every key it replaces, and every key still
// published after an earlier retirement, leaves the JWKS now, without
// PublishAfterRetire: Verify refuses what they signed (access tokens,
// ID tokens, slips), and their private halves are dropped. Only their
// public halves stay, in the archive, for the audit trail's signatures
// (VerifyArchived). Relying parties holding a JWKS fetched before refuse
// what the new keys sign until they fetch it again; other replicas stop
// trusting the old keys at their next Load.
func (m *Manager) RotateNow(ctx context.Context) error {
	fresh, err := m.NewKeys()
	if err != nil {
		return err
	}
	return m.rotate(ctx, m.st, fresh, true)
}

// Fresh is a set of new signing keys, one per algorithm, made by NewKeys
// for a rotation in a transaction.
type Fresh struct{ keys []store.SigningKey }

// IDs are the new keys' IDs, in the order of Algs.
func (f Fresh) IDs() []string {
	var out []string
	for _, k := range f.keys {
		out = append(out, k.ID)
	}
	return out
}

// NewKeys makes the keys a rotation adds. RotateIn takes them made
// beforehand: an RSA key takes up to a second or so to generate, and
// made inside the transaction it would hold the store's write lock
// (SQLite's, for every writer of every process) that long.
func (m *Manager) NewKeys() (Fresh, error) {
	var f Fresh
	for _, alg := range Algs {
		k, err := m.generate(alg)
		if err != nil {
			return Fresh{}, err
		}
		f.keys = append(f.keys, k)
	}
	return f, nil
}

// RotateIn is Rotate made in tx with fresh (from NewKeys), a transaction of the store the keys are
// kept in (store.Store.InTx): the keys are retired and created there, and
// the manager's keys are those of tx from then on, so that what is signed
// in tx (the rotation's own audit record) is signed as after a Rotate (by
// the current keys, which sign until the new ones activate). If tx does
// not commit, the new keys are not stored: Load then brings the manager
// back to the stored ones.
func (m *Manager) RotateIn(ctx context.Context, tx store.Tenant, fresh Fresh) error {
	return m.rotate(ctx, tx, fresh, false)
}

// RotateNowIn is RotateNow made in tx, as RotateIn: what is signed in tx
// after it is signed by the new keys.
func (m *Manager) RotateNowIn(ctx context.Context, tx store.Tenant, fresh Fresh) error {
	return m.rotate(ctx, tx, fresh, true)
}

// rotate retires every key that signs or will (those not retired, and with
// now, those whose retirement is ahead) when the new keys activate: now,
// or after the pre-publication period. A key pending from an earlier
// rotation is retired like the current one: it signs from its own
// activation to the new keys'. With now, every key still published also
// expires and is archived at once (see RotateNow). Keys whose publication
// ended earlier are archived by the load rotate ends with, as by any load.
func (m *Manager) rotate(ctx context.Context, st store.Tenant, fresh Fresh, now bool) error {
	if len(fresh.keys) != len(Algs) {
		return errors.New("rotate: no new keys (make them with NewKeys)")
	}
	if m.readOnly {
		return errReadOnly
	}
	// Replicas rotating at once would each retire the keys they read
	// before the others' rotations committed, and leave every rotation's
	// new keys unretired, several keys per algorithm with no end planned.
	// So, as createMissing, the keys are read and written in one
	// transaction holding the tenant's lock: each rotation retires what
	// the one before it created. The clock is read under the lock too, so
	// that a rotation that waited for another activates after it.
	run := func(tx store.Tenant) error {
		keys, all, err := lockedKeys(ctx, tx)
		if err != nil {
			return err
		}
		t := m.now().UTC()
		at := t
		if !now {
			at = t.Add(m.ahead)
		}
		for _, k := range all {
			switch {
			case now && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(t)):
				err = keys.Update(ctx, k.ID, func(old store.SigningKey) (store.SigningKey, error) {
					if old.RetiredAt.IsZero() || old.RetiredAt.After(t) {
						old.RetiredAt = t
					}
					old.ExpiresAt = t
					return old, nil
				})
				if err == nil {
					err = m.archive(ctx, keys, k)
				}
			case k.RetiredAt.IsZero():
				err = keys.Update(ctx, k.ID, func(old store.SigningKey) (store.SigningKey, error) {
					old.RetiredAt, old.ExpiresAt = at, at.Add(m.grace)
					return old, nil
				})
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("retire key %s: %w", k.ID, err)
			}
		}
		for _, k := range fresh.keys {
			if !now {
				k.ActiveFrom = at
			}
			if err := keys.Create(ctx, k); err != nil {
				return fmt.Errorf("store new signing key: %w", err)
			}
		}
		return nil
	}
	m.mu.Lock()
	var err error
	if s, ok := st.(store.Store); ok {
		err = s.InTx(ctx, run)
	} else {
		err = run(st) // st is a transaction already
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.load(ctx, st)
}

// errReadOnly refuses a rotation by a manager opened ReadOnly.
var errReadOnly = errors.New("rotate: the keys were opened read-only")

// Info describes a key without its secret half, for listings.
type Info struct {
	ID, Alg string
	// Created is when the key was made and published; Activates when it
	// starts signing (zero: at its creation); Retired when it stops
	// (zero: no end planned; it may be ahead); Expires when it leaves the
	// JWKS.
	Created, Activates, Retired, Expires time.Time
}

// Pending reports whether the key is published but does not sign yet at
// now (a rotation's new key, in its pre-publication period), and will.
func (i Info) Pending(now time.Time) bool {
	return now.Before(i.Activates) && (i.Retired.IsZero() || i.Retired.After(i.Activates))
}

// Signs reports whether the key signs at now.
func (i Info) Signs(now time.Time) bool {
	return !i.Pending(now) && (i.Retired.IsZero() || now.Before(i.Retired))
}

// List describes every stored key.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	return list(ctx, m.st.Keys())
}

// ListIn is List in tx, a transaction of the store the keys are kept in.
func (m *Manager) ListIn(ctx context.Context, tx store.Tenant) ([]Info, error) {
	return list(ctx, tx.Keys())
}

func list(ctx context.Context, keys store.Collection[store.SigningKey]) ([]Info, error) {
	all, err := keys.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(all))
	for _, k := range all {
		out = append(out, Info{ID: k.ID, Alg: k.Alg, Created: k.CreatedAt, Activates: k.ActiveFrom, Retired: k.RetiredAt, Expires: k.ExpiresAt})
	}
	return out, nil
}

func (m *Manager) generate(alg string) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return store.SigningKey{}, fmt.Errorf("unsupported algorithm %s", alg)
	}
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	// The key ID is derived from the public key, so every replica names a
	// key the same way and a kid never points at two keys.
	sum := sha256.Sum256(pubDER)
	kid := hex.EncodeToString(sum[:12])
	jwk, err := jwkOf(kid, alg, priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, _ := json.Marshal(jwk)
	return store.SigningKey{ID: kid, Alg: alg, Private: m.sealer.Seal(kid, der), Public: pub}, nil
}

func (m *Manager) build(all []store.SigningKey) (*snapshot, error) {
	now := m.now()
	s := &snapshot{signers: map[string][]signer{}, public: map[string]publicKey{}, archive: map[string]publicKey{},
		private: map[string]bool{}, keys: all}
	sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	var jwks []map[string]any
	for _, k := range all {
		// A key leaves the JWKS when it expires: at that instant already,
		// so that one RotateNow expired (at its own now) is gone at once.
		if expired(k, now) {
			if p, private, ok := m.archived(k); ok {
				s.archive[k.ID] = p
				s.private[k.ID] = private
			}
			continue
		}
		der, err := m.sealer.Open(k.ID, k.Private)
		if err != nil {
			return nil, err
		}
		p, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			// Archived already, by a process whose clock is ahead of
			// this one's (its publication ended by that clock), or
			// withdrawn by RotateNow at that process's now, which this
			// clock, lagging or stepped back, has not reached: only the
			// public half is left. It goes to the archive, never back
			// into the JWKS nor into Verify's reach: a withdrawn key is
			// a compromised one, and a retired key's tokens ended long
			// before its publication did (PublishAfterRetire).
			if pub, _, ok := m.archived(k); ok {
				s.archive[k.ID] = pub
				continue
			}
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		if !k.ExpiresAt.IsZero() && (s.until.IsZero() || k.ExpiresAt.Before(s.until)) {
			s.until = k.ExpiresAt
		}
		priv, ok := p.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("signing key %s: not a signer", k.ID)
		}
		jwk, err := jwkOf(k.ID, k.Alg, priv.Public())
		if err != nil {
			return nil, err
		}
		s.public[k.ID] = publicKey{kid: k.ID, alg: k.Alg, key: priv.Public(), jwk: jwk}
		s.private[k.ID] = true
		jwks = append(jwks, jwk)
		if k.RetiredAt.IsZero() || now.Before(k.RetiredAt) {
			s.signers[k.Alg] = append(s.signers[k.Alg], signer{kid: k.ID, alg: k.Alg, priv: priv,
				from: k.ActiveFrom, until: k.RetiredAt, activated: activated(k)})
		}
	}
	for _, ss := range s.signers {
		// Last activated first (on a tie, the newest created: all is
		// sorted so, and the sort is stable).
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].activated.After(ss[j].activated) })
	}
	b, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		return nil, err
	}
	s.jwks = b
	return s, nil
}

// activated is when k took or takes over signing: its activation time, or
// its creation for a key that signs from then.
func activated(k store.SigningKey) time.Time {
	if k.ActiveFrom.IsZero() {
		return k.CreatedAt
	}
	return k.ActiveFrom
}

// archive drops the private half of an expired key, keeping its public
// half sealed in its place: sealing is what makes the archive trusted, as
// only the holder of the master key can seal (the key's public JWK, also
// stored, is there to be read, and anyone who can write the store could
// write one of their own). A key already archived stays as it is.
func (m *Manager) archive(ctx context.Context, keys store.Collection[store.SigningKey], k store.SigningKey) error {
	pub, private, ok := m.archived(k)
	if !ok {
		return nil // not this tenant's: never trusted, nothing to keep
	}
	if !private {
		return nil // archived already: nothing to drop, nothing to write
	}
	der, err := x509.MarshalPKIXPublicKey(pub.key)
	if err != nil {
		return err
	}
	sealed := m.sealer.Seal(k.ID, der)
	return keys.Update(ctx, k.ID, func(old store.SigningKey) (store.SigningKey, error) {
		old.Private = sealed
		return old, nil
	})
}

// archived returns the public half of an expired key, from what is sealed
// in its Private field: the private key (not archived yet) or the public
// key archive put there; private reports which (the former: archive has
// not run on it). A key whose seal does not open under the master key is
// no key of this tenant's (ok is false).
func (m *Manager) archived(k store.SigningKey) (_ publicKey, private, ok bool) {
	der, err := m.sealer.Open(k.ID, k.Private)
	if err != nil {
		return publicKey{}, false, false
	}
	var pub crypto.PublicKey
	if p, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub = p
	} else if p, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		signer, ok := p.(crypto.Signer)
		if !ok {
			return publicKey{}, false, false
		}
		pub, private = signer.Public(), true
	} else {
		return publicKey{}, false, false
	}
	jwk, err := jwkOf(k.ID, k.Alg, pub)
	if err != nil {
		return publicKey{}, false, false
	}
	return publicKey{kid: k.ID, alg: k.Alg, key: pub, jwk: jwk}, private, true
}

// JWKS returns the published keys as a JSON Web Key Set document.
func (m *Manager) JWKS() []byte { return m.current().jwks }

// Sign signs payload (JSON) with the active key of alg, as a compact JWS
// whose header carries typ when it is not empty. The active key is the one
// whose time it is: the newest activated and not retired.
func (m *Manager) Sign(alg, typ string, payload []byte) (string, error) {
	now := m.now()
	for _, s := range m.current().signers[alg] {
		if s.signs(now) {
			return sign(s.priv, s.alg, s.kid, typ, payload)
		}
	}
	return "", fmt.Errorf("no active %s key", alg)
}

// SignJSON marshals claims and signs them.
func (m *Manager) SignJSON(alg, typ string, claims any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return m.Sign(alg, typ, b)
}

// Verify checks a compact JWS against the published keys and returns its
// payload. The header's alg must be the key's own (no alg confusion, no
// "none"); when typ is not empty the header's typ must equal it
// (case-insensitively, with or without the "application/" prefix).
func (m *Manager) Verify(token, typ string) ([]byte, error) {
	if payload, ok := m.verifiedAgain(token, typ); ok {
		return payload, nil
	}
	h, payload, input, sig, err := splitJWS(token)
	if err != nil {
		return nil, err
	}
	k, ok := m.current().public[h.Kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if h.Alg != k.alg {
		return nil, ErrBadSignature
	}
	if typ != "" && !sameTyp(h.Typ, typ) {
		return nil, ErrWrongType
	}
	if !k.verify(input, sig) {
		return nil, ErrBadSignature
	}
	m.verified.put(token, verifiedToken{kid: h.Kid, alg: h.Alg, typ: h.Typ, payload: bytes.Clone(payload)})
	return payload, nil
}

// VerifyArchived is Verify against every key the tenant has had: the
// published ones and the archive of expired ones. It is for what must stay
// checkable for years (the audit trail's signatures), never for tokens,
// which an expired key no longer vouches for.
func (m *Manager) VerifyArchived(token, typ string) ([]byte, error) {
	payload, err := m.Verify(token, typ)
	if !errors.Is(err, ErrUnknownKey) {
		return payload, err
	}
	h, payload, input, sig, err := splitJWS(token)
	if err != nil {
		return nil, err
	}
	k, ok := m.current().archive[h.Kid]
	switch {
	case !ok:
		return nil, ErrUnknownKey
	case h.Alg != k.alg:
		return nil, ErrBadSignature
	case typ != "" && !sameTyp(h.Typ, typ):
		return nil, ErrWrongType
	case !k.verify(input, sig):
		return nil, ErrBadSignature
	}
	return payload, nil
}

// Withdrawn reports whether kid names a key withdrawn before its time
// (RotateNow, for a compromised key: its publication ended sooner than
// PublishAfterRetire after its retirement), and when it stopped signing.
// Whoever holds such a key can still sign with it: the audit trail
// refuses what it signed from then on, and names what rests on it.
func (m *Manager) Withdrawn(kid string) (time.Time, bool) {
	for _, k := range m.current().keys {
		if k.ID == kid {
			if k.RetiredAt.IsZero() || k.ExpiresAt.IsZero() || !k.ExpiresAt.Before(k.RetiredAt.Add(m.grace)) {
				return time.Time{}, false
			}
			return k.RetiredAt, true
		}
	}
	return time.Time{}, false
}

// HasKey reports whether kid names a key of the tenant: published or
// archived.
func (m *Manager) HasKey(kid string) bool {
	s := m.current()
	_, pub := s.public[kid]
	_, old := s.archive[kid]
	return pub || old
}

func sameTyp(got, want string) bool {
	norm := func(s string) string {
		// ASCII letters only: a Unicode folding (the Kelvin sign to k)
		// would take spellings no JOSE library writes.
		b := []byte(s)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		s = string(b)
		if len(s) > 12 && s[:12] == "application/" {
			s = s[12:]
		}
		return s
	}
	return norm(got) == norm(want)
}

// lockedKeys takes the tenant's lock in tx and reads the signing keys under
// it: what a writer of keys decides on, with no other replica's write
// between its read and its own.
func lockedKeys(ctx context.Context, tx store.Tenant) (store.Collection[store.SigningKey], []store.SigningKey, error) {
	if err := tx.Lock(ctx); err != nil {
		return nil, nil, err
	}
	keys := tx.Keys()
	cur, err := keys.List(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load signing keys: %w", err)
	}
	return keys, cur, nil
}
