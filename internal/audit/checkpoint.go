package audit

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Checkpoint kinds.
const (
	KindBatch    = "batch"    // on the last record of each commit
	KindPeriodic = "periodic" // every CheckpointInterval while the head moves
	KindManual   = "manual"   // Checkpoint called
	KindClose    = "close"    // Close
	KindPrune    = "prune"    // the records up to Seq were pruned: the kept chain starts after it
)

// CheckpointType is the JWS typ header of checkpoints.
const CheckpointType = "gatehouse-audit-checkpoint+jwt"

// sigAlg is the algorithm checkpoints are signed with (keys.EdDSA; not
// imported so that keys may record audit events).
const sigAlg = "EdDSA"

// ErrNoKeys is returned by operations that sign when the Log has no Keys.
var ErrNoKeys = errors.New("audit log has no signing keys")

// Checkpoint is a signed statement that the chain's record Seq had Hash at
// Time. JWS carries it signed; the other fields repeat its payload.
type Checkpoint struct {
	ID   int64     `json:"id,omitempty"` // the store's, when stored
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	JWS  string    `json:"jws"`
}

type claims struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	Kind string `json:"kind"`
	IAT  int64  `json:"iat"`
	// At is the time to the microsecond (iat is in seconds).
	At int64 `json:"at_us"`
	// After, on a batch signature, is the seq of the record the batch
	// was appended onto: the writer vouches for the batch, not for what
	// it found before it, and Verify checks that a signature covers that.
	After *int64 `json:"after,omitempty"`
}

// sign signs c; after, for a batch, is the seq of the record the batch
// was appended onto.
func (l *Log) sign(c Checkpoint, after *int64) (string, error) {
	if l.keys == nil {
		return "", ErrNoKeys
	}
	tok, err := l.keys.SignJSON(sigAlg, CheckpointType, claims{Seq: c.Seq, Hash: c.Hash, Kind: c.Kind,
		IAT: c.Time.Unix(), At: c.Time.UnixMicro(), After: after})
	if err != nil {
		return "", fmt.Errorf("sign audit checkpoint: %w", err)
	}
	return tok, nil
}

// Checkpoint signs and stores a checkpoint of the current head.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	return l.checkpoint(ctx, KindManual)
}

func (l *Log) checkpoint(ctx context.Context, kind string) (Checkpoint, error) {
	if l.keys == nil {
		return Checkpoint{}, ErrNoKeys
	}
	h, err := l.st.AuditHead(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := l.vouched(ctx, h); err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Seq: h.Seq, Hash: h.Hash, Time: time.UnixMicro(l.now().UnixMicro()).UTC(), Kind: kind}
	if c.JWS, err = l.sign(c, nil); err != nil {
		return Checkpoint{}, err
	}
	if c.ID, err = l.st.AddAuditCheckpoint(ctx, toStoreCheckpoint(c)); err != nil {
		return Checkpoint{}, err
	}
	l.ckMu.Lock()
	l.ckSeq, l.ckHash, l.ckAt = c.Seq, c.Hash, c.Time
	l.ckMu.Unlock()
	return c, nil
}

// ErrUnvouched is returned (wrapped) by Checkpoint when the chain's head
// is a record no writer signed: one appended behind the writers' backs,
// which a checkpoint must not cover.
var ErrUnvouched = errors.New("the audit chain's head is covered by no signature")

// vouched checks that head is a record a writer signed (the last of its
// batch), or one this Log already checkpointed, before a checkpoint signs
// it.
func (l *Log) vouched(ctx context.Context, h store.AuditHead) error {
	l.ckMu.Lock()
	known := h.Seq == l.ckSeq && h.Hash == l.ckHash
	l.ckMu.Unlock()
	if h.Seq == 0 || known {
		return nil
	}
	recs, err := l.st.AuditRecords(ctx, store.AuditFilter{After: h.Seq - 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(recs) == 1 && recs[0].Seq == h.Seq && recs[0].Hash == h.Hash && recs[0].Sig != "" {
		c, err := openCheckpoint(l.keys, recs[0].Sig)
		if errors.Is(err, errUnknownKey) {
			// Signed by a key rotated in after this process loaded its
			// own (keys rotate, another replica): the store has it,
			// sealed under the master key.
			if lk, ok := l.keys.(interface{ Load(context.Context) error }); ok && lk.Load(ctx) == nil {
				c, err = openCheckpoint(l.keys, recs[0].Sig)
			}
		}
		if err == nil && c.Seq == h.Seq && c.Hash == h.Hash {
			return nil
		}
	}
	// A pruning anchor or a checkpoint already stored for it vouches too.
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if cp.Seq != h.Seq || cp.Hash != h.Hash {
			continue
		}
		if c, err := openCheckpoint(l.keys, cp.JWS); err == nil && c.Seq == h.Seq && c.Hash == h.Hash {
			return nil
		}
	}
	return fmt.Errorf("%w: record %d (run gatehouse audit verify)", ErrUnvouched, h.Seq)
}

// refreshAfter is how old the last checkpoint may grow before a periodic
// one is written even though the head did not move: the tail must stay
// signed by a published key, and a retired key leaves the JWKS a day
// after rotation.
const refreshAfter = time.Hour

// checkpointIfMoved writes a checkpoint when the head moved past the last
// one this Log wrote (or that one is older than refreshAfter). It reports
// whether it wrote one.
func (l *Log) checkpointIfMoved(ctx context.Context, kind string) (bool, error) {
	h, err := l.st.AuditHead(ctx)
	if err != nil {
		return false, err
	}
	l.ckMu.Lock()
	// An age below zero is a clock stepped back since: the last checkpoint
	// is not known to be fresh (waiting for the clock to catch up would
	// skip the refresh for as long as the step).
	age := l.now().Sub(l.ckAt)
	fresh := h.Seq <= l.ckSeq && age >= 0 && age < refreshAfter
	l.ckMu.Unlock()
	if h.Seq == 0 || fresh {
		return false, nil
	}
	_, err = l.checkpoint(ctx, kind)
	return err == nil, err
}

func toStoreCheckpoint(c Checkpoint) store.AuditCheckpoint {
	return store.AuditCheckpoint{ID: c.ID, Seq: c.Seq, Hash: c.Hash, Time: c.Time, Kind: c.Kind, JWS: c.JWS}
}

func fromStoreCheckpoint(c store.AuditCheckpoint) Checkpoint {
	return Checkpoint{ID: c.ID, Seq: c.Seq, Hash: c.Hash, Time: c.Time, Kind: c.Kind, JWS: c.JWS}
}

// Checkpoints returns every stored checkpoint, oldest first.
func (l *Log) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	var out []Checkpoint
	var after int64
	for {
		page, err := l.st.AuditCheckpoints(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			out = append(out, fromStoreCheckpoint(c))
			after = c.ID
		}
		if len(page) < 1000 {
			return out, nil
		}
	}
}

// ExportCheckpoints writes the stored checkpoints to w as JSON lines, for
// a copy kept off the box: Verify (VerifyOptions.Checkpoints) takes such a
// copy back to prove that no record it covers was dropped. Each line is
// what its signature states (seq, hash, kind, time), not the row's other
// columns, which anyone who can write the database can change: a person
// reading the copy reads what was signed. A row whose signature does not
// verify is left out and counted in leftOut (verify names it), so that a
// row planted in the store neither reaches the copy nor stops the export.
func (l *Log) ExportCheckpoints(ctx context.Context, w io.Writer) (written, leftOut int, err error) {
	cs, err := l.Checkpoints(ctx)
	if err != nil {
		return 0, 0, err
	}
	bw := bufio.NewWriter(w)
	for _, c := range cs {
		signed, err := openCheckpoint(l.keys, c.JWS)
		if err != nil {
			leftOut++
			continue
		}
		signed.ID = c.ID
		b, err := json.Marshal(signed)
		if err != nil {
			return written, leftOut, err
		}
		// Escaped as every JSON view of the trail is: a kind, though
		// signed, is whatever the signer put there, and the copy is read
		// on a terminal. It decodes to the same values.
		if _, err := bw.Write(append(EscapeInvisible(b), '\n')); err != nil {
			return written, leftOut, err
		}
		written++
	}
	return written, leftOut, bw.Flush()
}

// ParseCheckpoints reads what ExportCheckpoints writes. Only each line's
// jws counts: Verify checks its signature and takes the values from it.
func ParseCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var out []Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c Checkpoint
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("checkpoints line %d: %w", n, err)
		}
		if c.JWS == "" {
			return nil, fmt.Errorf("checkpoints line %d: no jws", n)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// errUnknownKey marks a checkpoint whose key this store does not know
// (deleted before keys were archived, or never this tenant's).
var errUnknownKey = errors.New("signed by a key this store does not know")

// archiveKeys is Keys that also verifies with the public halves of keys
// no longer published (*keys.Manager does): the trail's old signatures
// stay checkable after their keys left the JWKS.
type archiveKeys interface {
	VerifyArchived(token, typ string) ([]byte, error)
	HasKey(kid string) bool
}

// withdrawnKeys is Keys that tells the keys withdrawn before their time
// (*keys.Manager does: RotateNow, for a leaked key), and when each stopped
// signing.
type withdrawnKeys interface {
	Withdrawn(kid string) (time.Time, bool)
}

// WithdrawalGrace is how long after a key's withdrawal (keys rotate
// --now) its signatures still count: a running server signs with the
// keys it loaded until it reloads them (every 10 s by default), so a
// withdrawal on a busy server would otherwise leave its last batches
// refused, a trail that never verifies again. Whoever holds the key can
// sign within the same window; what rests on the key is named in
// Report.WithdrawnKeys either way.
const WithdrawalGrace = time.Minute

// errWithdrawn marks a signature by a withdrawn key stating a time at or
// after its withdrawal and its grace: whoever the key leaked to could have
// made it.
var errWithdrawn = errors.New("signed by a withdrawn key after its withdrawal (by whoever holds the key, or a server yet to reload its keys)")

// withdrawal returns the kid of the key a JWS names, and when that key was
// withdrawn (ok false: it was not, or keys cannot tell).
func withdrawal(keys Keys, jws string) (kid string, at time.Time, ok bool) {
	wk, can := keys.(withdrawnKeys)
	if !can {
		return "", time.Time{}, false
	}
	kid = kidOf(jws)
	if kid == "" {
		return "", time.Time{}, false
	}
	at, ok = wk.Withdrawn(kid)
	return kid, at, ok
}

// signedAt is the time claims state they were signed at.
func (c claims) signedAt() time.Time {
	if c.At != 0 {
		return time.UnixMicro(c.At).UTC()
	}
	return time.Unix(c.IAT, 0).UTC()
}

// openCheckpoint returns the checkpoint a JWS states: verified with keys,
// or merely decoded when keys is nil. A JWS by a key the store does not
// know yields errUnknownKey; one by a withdrawn key stating a time at or
// after its withdrawal, errWithdrawn.
func openCheckpoint(keys Keys, jws string) (Checkpoint, error) {
	c, _, err := openClaims(keys, jws)
	return c, err
}

// openClaims is openCheckpoint that also returns the claims as signed.
func openClaims(keys Keys, jws string) (Checkpoint, claims, error) {
	var payload []byte
	var err error
	if keys != nil {
		verify := keys.Verify
		if ak, ok := keys.(archiveKeys); ok {
			verify = ak.VerifyArchived
		}
		payload, err = verify(jws, CheckpointType)
		if err != nil {
			if !knownKey(keys, jws) {
				return Checkpoint{}, claims{}, errUnknownKey
			}
			return Checkpoint{}, claims{}, err
		}
	} else {
		parts := strings.Split(jws, ".")
		if len(parts) != 3 {
			return Checkpoint{}, claims{}, errors.New("malformed checkpoint")
		}
		if payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
			return Checkpoint{}, claims{}, errors.New("malformed checkpoint")
		}
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Checkpoint{}, claims{}, fmt.Errorf("malformed checkpoint: %w", err)
	}
	if keys != nil {
		if kid, at, ok := withdrawal(keys, jws); ok && !c.signedAt().Before(at.Add(WithdrawalGrace)) {
			return Checkpoint{}, claims{}, fmt.Errorf("%w: key %s, withdrawn at %s, signed it as of %s", errWithdrawn,
				kid, at.UTC().Format(time.RFC3339Nano), c.signedAt().Format(time.RFC3339Nano))
		}
	}
	return Checkpoint{Seq: c.Seq, Hash: c.Hash, Kind: c.Kind, Time: time.UnixMicro(c.At).UTC(), JWS: jws}, c, nil
}

// kidOf returns the kid the header of a JWS names, "" when it names none
// or does not decode.
func kidOf(jws string) string {
	i := strings.IndexByte(jws, '.')
	if i < 0 {
		return ""
	}
	hb, err := base64.RawURLEncoding.DecodeString(jws[:i])
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return ""
	}
	return h.Kid
}

// knownKey reports whether the key a JWS names is one keys has: in the
// archive, or published in the JWKS.
func knownKey(keys Keys, jws string) bool {
	i := strings.IndexByte(jws, '.')
	if i < 0 {
		return true // malformed: not a question of keys
	}
	hb, err := base64.RawURLEncoding.DecodeString(jws[:i])
	if err != nil {
		return true
	}
	var h struct {
		Kid string `json:"kid"`
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return true
	}
	if ak, ok := keys.(archiveKeys); ok {
		return ak.HasKey(h.Kid)
	}
	if json.Unmarshal(keys.JWKS(), &set) != nil {
		return true
	}
	for _, k := range set.Keys {
		if k.Kid == h.Kid {
			return true
		}
	}
	return false
}
