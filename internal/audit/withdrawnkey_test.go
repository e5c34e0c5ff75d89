package audit_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestWithdrawnKeyForgesNothing: an operator who withdrew a leaked key
// (keys.RotateNow, 'keys rotate --now') expects what the key signs from
// then on to count for nothing. Someone holding it (here a key manager
// loaded before the withdrawal, which keeps the private half in memory)
// appends a record signed by it, and stores a checkpoint signed by it:
// Verify refuses both, and the export for an off-box copy leaves the
// checkpoint out. What the key signed before its withdrawal still
// verifies, but the report names the key and what rests on it: a holder
// of the key could have dated a forgery before the withdrawal.
func TestWithdrawnKeyForgesNothing(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	master := make([]byte, 32)
	rand.Read(master)
	sealer, err := keys.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	open := func() *keys.Manager {
		km, err := keys.Open(ctx, st, sealer, &keys.Options{Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		return km
	}
	km := open()
	leaked := open() // the key's private half, as the one it leaked to holds it
	l := audit.New(st, km, &audit.Options{CheckpointInterval: -1, Now: c.Now})
	t.Cleanup(func() { l.Close() })
	for range 3 {
		if err := l.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var withdrawnKid string
	for _, k := range must(km.List(ctx)) {
		if k.Alg == keys.EdDSA {
			withdrawnKid = k.ID
		}
	}
	c.Advance(time.Minute)
	if err := km.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, audit.Event{Type: audit.KeyRotated, Actor: "root"}); err != nil {
		t.Fatal(err)
	}
	appendAs := func(now func() time.Time) {
		t.Helper()
		evil := audit.New(st, leaked, &audit.Options{CheckpointInterval: -1, Now: now})
		if err := evil.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "mallory"}); err != nil {
			t.Fatal(err)
		}
		evil.Close()
	}
	// A server that has not reloaded its keys yet signs with the
	// withdrawn one a moment after the withdrawal (record 5): within
	// WithdrawalGrace that counts, or every withdrawal on a busy server
	// would leave a trail that never verifies again.
	c.Advance(5 * time.Second)
	appendAs(c.Now)
	if rep, err := l.Verify(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("verify with the withdrawn key's signature of a server yet to reload: %+v %v", rep, err)
	}
	// Past the grace, an honest record signed by the new key (6).
	c.Advance(audit.WithdrawalGrace)
	if err := l.Record(ctx, audit.Event{Type: audit.ToolDecided, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Verify(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("verify before any forgery: %+v %v", rep, err)
	}
	c.Advance(time.Minute)

	// A record appended with the withdrawn key, dated before the
	// withdrawal: it follows the record of the rotation, signed after.
	appendAs(func() time.Time { return c.Now().Add(-time.Hour) })
	rep, err := l.Verify(ctx, nil)
	if err == nil || rep.OK || !hasProblem(rep, 7, audit.ProblemSignature) || !hasProblem(rep, 7, audit.ProblemCheckpoint) {
		t.Errorf("a record signed by the withdrawn key after its withdrawal, dated before: %+v %v", rep, err)
	}

	// One dated as it was made, after the withdrawal.
	appendAs(c.Now)
	forged := int64(8)
	rep, err = l.Verify(ctx, nil)
	if err == nil || rep.OK || !hasProblem(rep, forged, audit.ProblemSignature) {
		t.Errorf("a record signed by the withdrawn key after its withdrawal: %+v %v", rep, err)
	}

	// A checkpoint of it signed by the withdrawn key, stored.
	jws, err := leaked.SignJSON(keys.EdDSA, audit.CheckpointType, map[string]any{
		"seq": forged, "hash": hashOf(t, st, forged), "kind": audit.KindManual,
		"iat": c.Now().Unix(), "at_us": c.Now().UnixMicro()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SQL().Exec(st.Rebind("INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (?, ?, ?, ?, ?)"),
		forged, hashOf(t, st, forged), c.Now().UnixMicro(), audit.KindManual, jws); err != nil {
		t.Fatal(err)
	}
	rep, _ = l.Verify(ctx, nil)
	if !hasProblem(rep, forged, audit.ProblemCheckpoint) {
		t.Errorf("a checkpoint signed by the withdrawn key after its withdrawal was not refused: %+v", rep)
	}
	// Left out of the copy: it, and the close checkpoint of record 8 the
	// holder's writer signed.
	var copy strings.Builder
	if _, leftOut, err := l.ExportCheckpoints(ctx, &copy); err != nil || leftOut != 2 || strings.Contains(copy.String(), jws) {
		t.Errorf("export: left out %d (want 2), %v\n%s", leftOut, err, copy.String())
	}

	// What the key signed before: verified, and named.
	var named *audit.WithdrawnKey
	for i, w := range rep.WithdrawnKeys {
		if w.Kid == withdrawnKid {
			named = &rep.WithdrawnKeys[i]
		}
	}
	if named == nil || named.Signatures != 4 || named.Checkpoints != 2 || named.First != 1 || named.Last != 5 {
		t.Errorf("the report does not name what rests on the withdrawn key %s: %+v", withdrawnKid, rep.WithdrawnKeys)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func hasProblem(rep audit.Report, seq int64, kind string) bool {
	for _, p := range rep.Problems {
		if p.Seq == seq && p.Kind == kind {
			return true
		}
	}
	return false
}

func hashOf(t *testing.T, st *sqldb.DB, seq int64) string {
	t.Helper()
	var h string
	if err := st.SQL().QueryRow(st.Rebind("SELECT hash FROM audit_log WHERE seq = ?"), seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
