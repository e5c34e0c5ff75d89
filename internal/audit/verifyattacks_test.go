package audit_test

// Attacker-minded review (a review): an attacker with write access to the
// database but not the master key / signing keys.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// rehashFrom recomputes, behind the writer's back, the hashes and links
// of every record from seq on and moves the head to the last: a chain
// whose hashes are all consistent again after an edit.
func (e *env) rehashFrom(t *testing.T, seq int64) {
	t.Helper()
	rows, err := e.st.SQL().Query(e.st.Rebind(`SELECT seq, at, event FROM audit_log WHERE seq >= ? ORDER BY seq`), seq)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		seq, at int64
		ev      string
	}
	var rs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.seq, &r.at, &r.ev); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	prev := audit.Genesis
	if seq > 1 {
		prev = e.hashOf(t, seq-1)
	}
	for _, r := range rs {
		h := specHash(prev, r.seq, r.at, r.ev)
		e.exec(t, `UPDATE audit_log SET prev = ?, hash = ? WHERE seq = ?`, prev, h, r.seq)
		prev = h
	}
	last := rs[len(rs)-1].seq
	e.exec(t, `UPDATE audit_head SET seq = ?, hash = ?`, last, prev)
}

// attackerJWS signs claims with a key the attacker made, naming kid.
func attackerJWS(t *testing.T, priv ed25519.PrivateKey, kid string, claims any) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": audit.CheckpointType})
	p, _ := json.Marshal(claims)
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return in + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

func kidOf(t *testing.T, jws string) string {
	t.Helper()
	hb, err := base64.RawURLEncoding.DecodeString(strings.SplitN(jws, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	json.Unmarshal(hb, &h)
	return h.Kid
}

func wantBroken(t *testing.T, l *audit.Log, opts *audit.VerifyOptions, seq int64, kind string) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), opts)
	if !errors.Is(err, audit.ErrChainBroken) || rep.OK || len(rep.Problems) == 0 {
		t.Fatalf("Verify did not catch it: %v %+v", err, rep)
	}
	if p := rep.Problems[0]; p.Seq != seq || (kind != "" && p.Kind != kind) {
		t.Errorf("first problem %+v, want seq %d %s (all %+v)", p, seq, kind, rep.Problems)
	}
	return rep
}

// TestVerifyAttackForgedCheckpointRowsHideTheBrokenRecord: an attacker who
// edits record 3 (re-hashing the whole chain after it) also plants 100
// junk rows in audit_checkpoints. Verify names record 3 first: checkpoint
// rows that do not verify are findings of their own, bounded apart and
// listed after the records', so they can neither crowd the edited record
// out of the report nor make the error name a record the attacker chose.
func TestVerifyAttackForgedCheckpointRowsHideTheBrokenRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(6)...)
	mustVerify(t, e.log)
	e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 3`, `{"type":"tool.decision","actor":"mallory","decision":"allow"}`)
	e.rehashFrom(t, 3)
	for range 100 {
		e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (999999, 'x', 0, 'manual', 'junk')`)
	}
	rep, err := e.log.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Verify: %v", err)
	}
	found := false
	for _, p := range rep.Problems {
		if p.Seq == 3 {
			found = true
		}
	}
	if !found || rep.Problems[0].Seq != 3 {
		t.Errorf("the edited record 3 is not the first problem reported (error %q); %d problems, first %+v, record 3 listed: %v",
			err, len(rep.Problems), rep.Problems[0], found)
	}
}

// TestVerifyAttackIndexEditsHideTheBrokenRecord: an attacker who edits
// record 180 also edits the query columns of records 1 to 150 (more than a
// report lists). Verify names record 180 first: edited columns break no
// chain, so they are bounded apart and listed after it, and can neither
// crowd it out of the report nor stand before it.
func TestVerifyAttackIndexEditsHideTheBrokenRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(200)...)
	e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 180`, `{"type":"tool.decision","actor":"mallory","decision":"allow"}`)
	e.exec(t, `UPDATE audit_log SET actor = 'bob' WHERE seq <= 150`)
	rep := wantBroken(t, e.log, nil, 180, audit.ProblemEdited)
	if p := rep.Problems[1]; p.Seq != 1 || p.Kind != audit.ProblemIndex {
		t.Errorf("second problem %+v, want record 1's index columns", p)
	}
}

// TestVerifyAttackCaughtAttacks: the attacks verify catches, each named at
// the record it broke, on each backend: an attacker with the database but
// not the signing keys.
func TestVerifyAttackCaughtAttacks(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		ctx := context.Background()

		t.Run("edit and recompute the whole chain", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(6)...)
			e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 3`, `{"type":"tool.decision","actor":"mallory"}`)
			e.exec(t, `UPDATE audit_log SET actor = 'mallory', agent = '', tool = '', decision = '', correlation = '' WHERE seq = 3`)
			e.rehashFrom(t, 3)
			wantBroken(t, e.log, nil, 3, audit.ProblemSignature)
		})

		t.Run("edit in a multi-record batch, recompute", func(t *testing.T) {
			e := newEnv(t, open, nil)
			if err := e.log.RecordAll(ctx, events(6)...); err != nil {
				t.Fatal(err)
			}
			e.exec(t, `UPDATE audit_log SET event = ?, actor = 'mallory', agent = '', tool = '', decision = '', correlation = '' WHERE seq = 3`, `{"type":"tool.decision","actor":"mallory"}`)
			e.rehashFrom(t, 3)
			// Caught, but only the batch's signed record (6) can be named.
			rep := wantBroken(t, e.log, nil, 1, audit.ProblemUnsigned)
			t.Logf("batch edit reported as %+v", rep.Problems)
		})

		t.Run("rollback records and checkpoints, off-box copy", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(6)...)
			if _, err := e.log.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			var off bytes.Buffer
			if _, _, err := e.log.ExportCheckpoints(ctx, &off); err != nil {
				t.Fatal(err)
			}
			cps, err := audit.ParseCheckpoints(&off)
			if err != nil {
				t.Fatal(err)
			}
			e.exec(t, `DELETE FROM audit_log WHERE seq > 3`)
			e.exec(t, `DELETE FROM audit_checkpoints WHERE seq > 3`)
			e.exec(t, `UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)`)
			mustVerify(t, e.log) // inherent without the copy
			wantBroken(t, e.log, &audit.VerifyOptions{Checkpoints: cps}, 4, audit.ProblemTruncated)
			// The server carries on past the cut (a fork): still caught.
			l2 := audit.New(e.st, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
			defer l2.Close()
			for _, ev := range events(5) {
				if err := l2.Record(ctx, ev); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(1e9)
			}
			mustVerify(t, e.log)
			wantBroken(t, e.log, &audit.VerifyOptions{Checkpoints: cps}, 6, audit.ProblemCheckpoint)
		})

		t.Run("checkpoint by unknown kid", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(3)...)
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			jws := attackerJWS(t, priv, "deadbeef", map[string]any{"seq": 5, "hash": "00", "kind": "prune", "at_us": 0})
			e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (5, '00', 0, 'prune', ?)`, jws)
			rep := mustVerify(t, e.log) // a warning only, not an anchor
			if rep.Unverifiable != 1 || rep.Anchor != nil {
				t.Errorf("%+v", rep)
			}
			wantBroken(t, e.log, &audit.VerifyOptions{Checkpoints: []audit.Checkpoint{{JWS: jws}}}, 0, audit.ProblemCheckpoint)
		})

		t.Run("keys table: public JWK replaced, signatures forged with it", func(t *testing.T) {
			st := open(t)
			dir := t.TempDir()
			km, err := openKeys(st, dir)
			if err != nil {
				t.Fatal(err)
			}
			l := audit.New(st, km, &audit.Options{CheckpointInterval: -1})
			defer l.Close()
			for _, ev := range events(4) {
				if err := l.Record(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			var sig string
			if err := st.SQL().QueryRow(`SELECT sig FROM audit_log WHERE seq = 4`).Scan(&sig); err != nil {
				t.Fatal(err)
			}
			kid := kidOf(t, sig)
			pub, priv, _ := ed25519.GenerateKey(rand.Reader)
			jwk, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
				"x": base64.RawURLEncoding.EncodeToString(pub)})
			// Replace the stored public JWK of the signing key.
			var doc string
			if err := st.SQL().QueryRow(st.Rebind(`SELECT doc FROM signing_keys WHERE name = ?`), kid).Scan(&doc); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.Unmarshal([]byte(doc), &m)
			m["public"] = jwk
			nd, _ := json.Marshal(m)
			if _, err := st.SQL().Exec(st.Rebind(`UPDATE signing_keys SET doc = ? WHERE name = ?`), string(nd), kid); err != nil {
				t.Fatal(err)
			}
			km2, err := openKeys(st, dir) // a restarted verifier
			if err != nil {
				t.Fatal(err)
			}
			l2 := audit.New(st, km2, &audit.Options{CheckpointInterval: -1})
			defer l2.Close()
			// Edit record 2, re-hash, re-sign every batch with the attacker's key under the real kid.
			if _, err := st.SQL().Exec(st.Rebind(`UPDATE audit_log SET event = ?, actor='mallory', agent='', tool='', decision='', correlation='' WHERE seq = 2`), `{"type":"tool.decision","actor":"mallory"}`); err != nil {
				t.Fatal(err)
			}
			e := &env{st: st, keys: km2, clock: newClock(), log: l2}
			e.rehashFrom(t, 2)
			for s := int64(2); s <= 4; s++ {
				forged := attackerJWS(t, priv, kid, map[string]any{"seq": s, "hash": e.hashOf(t, s), "kind": "batch", "at_us": 0, "after": s - 1})
				e.exec(t, `UPDATE audit_log SET sig = ? WHERE seq = ?`, forged, s)
			}
			wantBroken(t, l2, nil, 2, audit.ProblemSignature)
		})

		t.Run("last record's sig replaced by unknown-kid sig", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(4)...)
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			forged := attackerJWS(t, priv, "nokey", map[string]any{"seq": 4, "hash": e.hashOf(t, 4), "kind": "batch", "at_us": 0})
			e.exec(t, `UPDATE audit_log SET sig = ? WHERE seq = 4`, forged)
			wantBroken(t, e.log, nil, 4, audit.ProblemUnsigned)
		})

		t.Run("replay checkpoint jws onto another row", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(2)...)
			c, err := e.log.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.record(t, events(3)...)
			e.exec(t, `INSERT INTO audit_checkpoints (seq, hash, at, kind, jws) VALUES (5, ?, 0, 'manual', ?)`, e.hashOf(t, 5), c.JWS)
			rep := mustVerify(t, e.log) // the signed seq (2) counts, not the row's
			t.Logf("replayed: %+v", rep)
			e.exec(t, `UPDATE audit_log SET sig = ? WHERE seq = 5`, c.JWS)
			wantBroken(t, e.log, nil, 5, audit.ProblemSignature)
		})

		t.Run("forged head, next writer continues from it", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(3)...)
			e.exec(t, `UPDATE audit_head SET hash = ?`, strings.Repeat("ab", 32))
			l2 := audit.New(e.st, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1})
			defer l2.Close()
			if err := l2.Record(ctx, events(1)[0]); err != nil {
				t.Fatal(err)
			}
			wantBroken(t, e.log, nil, 4, audit.ProblemUnlinked)
		})

		t.Run("head rewound, records kept", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(5)...)
			e.exec(t, `UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)`)
			wantBroken(t, e.log, nil, 4, audit.ProblemUnsigned)
		})

		t.Run("insert into pruned range, negative seq", func(t *testing.T) {
			e := newEnv(t, open, nil)
			e.record(t, events(3)...)
			ev := `{"type":"login.succeeded","actor":"mallory"}`
			e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (-5, 0, ?, ?, ?, 'login.succeeded', 'mallory')`,
				ev, audit.Genesis, specHash(audit.Genesis, -5, 0, ev))
			rep, err := e.log.Verify(ctx, nil)
			if err == nil {
				t.Fatal("not caught")
			}
			t.Logf("negative seq reported as %v / %+v", err, rep.Problems)
		})
	})
}

// TestVerifyAttackRecordAtNonPositiveSeqIsNamed: a record inserted behind
// the writer's back at seq -5 (below any chain; queries and tail show it
// as mallory's login) is named as record -5, not as ranges of missing
// records that make no sense ("records 1 to -6 are missing").
func TestVerifyAttackRecordAtNonPositiveSeqIsNamed(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	ctx := context.Background()
	e.record(t, events(3)...)
	ev := `{"type":"login.succeeded","actor":"mallory"}`
	e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (-5, 0, ?, ?, ?, 'login.succeeded', 'mallory')`,
		ev, audit.Genesis, specHash(audit.Genesis, -5, 0, ev))
	if p, err := e.log.Query(ctx, audit.Filter{Actor: "mallory"}); err != nil || len(p.Entries) != 1 {
		t.Logf("query for mallory: %v %+v", err, p)
	}
	rep, err := e.log.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Verify: %v", err)
	}
	if p := rep.Problems[0]; p.Seq != -5 {
		t.Errorf("first problem %+v (error %q), want record -5 named; all %+v", p, err, rep.Problems)
	}
}

// TestVerifyAttackManyRecordsAtNonPositiveSeqs: more records planted at
// seq 0 and below than verify reads at a time, on a log never pruned,
// are named, and verify finishes. Before, each page it read was full of
// them (a store reads "after 0" as "from the start"), its position never
// moved, and it read the same page until its context ended.
func TestVerifyAttackManyRecordsAtNonPositiveSeqs(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		e.record(t, events(3)...)
		ev := `{"type":"login.succeeded","actor":"mallory"}`
		for seq := int64(0); seq > -1001; seq-- {
			e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (?, 0, ?, ?, ?, 'login.succeeded', 'mallory')`,
				seq, ev, audit.Genesis, specHash(audit.Genesis, seq, 0, ev))
		}
		// A hang guard, not a timing: the loop only ended with its context.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rep, err := e.log.Verify(ctx, nil)
		if !errors.Is(err, audit.ErrChainBroken) {
			t.Fatalf("Verify: %v", err)
		}
		if p := rep.Problems[0]; p.Seq > 0 || p.Kind != audit.ProblemUnsigned || rep.Records != 3 {
			t.Errorf("first problem %+v, %d records walked; want a record at or below 0 named, and 3 walked", p, rep.Records)
		}
	})
}

// TestVerifyAttackRecordBelowOneOnALongTrail: a record planted at seq 0 is
// named on a trail longer than the walk's first page too (whose read of
// records 1 onwards is full before it could reach below 1), and Prune,
// which verifies first, refuses instead of quietly cutting nothing.
func TestVerifyAttackRecordBelowOneOnALongTrail(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		e.record(t, events(1001)...)
		ev := `{"type":"login.succeeded","actor":"mallory"}`
		e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (0, ?, ?, ?, ?, 'login.succeeded', 'mallory')`,
			time.Now().UnixMicro(), ev, audit.Genesis, specHash(audit.Genesis, 0, time.Now().UnixMicro(), ev))
		rep, err := e.log.Verify(context.Background(), nil)
		if !errors.Is(err, audit.ErrChainBroken) {
			t.Fatalf("Verify: %v", err)
		}
		if p := rep.Problems[0]; p.Seq != 0 || rep.Records != 1001 {
			t.Errorf("first problem %+v, %d records walked; want record 0 named, and 1001 walked", p, rep.Records)
		}
		if _, err := e.log.Prune(context.Background(), time.Now().Add(-time.Hour)); !errors.Is(err, audit.ErrChainBroken) {
			t.Errorf("Prune: %v, want it refused as the chain is broken", err)
		}
	})
}

// TestRowsBelowOneDoNotCrowdOutTheEditedRecord: a hundred rows planted
// below seq 1 are told as one problem, so the record that was edited is
// still named in the report, not pushed past its bound.
func TestRowsBelowOneDoNotCrowdOutTheEditedRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(6)...)
	e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 3`, `{"type":"tool.decision","actor":"mallory","decision":"allow"}`)
	ev := `{"type":"login.succeeded","actor":"x"}`
	for seq := int64(0); seq > -100; seq-- {
		e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (?, 0, ?, ?, ?, 'login.succeeded', 'x')`,
			seq, ev, audit.Genesis, specHash(audit.Genesis, seq, 0, ev))
	}
	rep, err := e.log.Verify(context.Background(), nil)
	if !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Verify: %v", err)
	}
	named, below := false, 0
	for _, p := range rep.Problems {
		if p.Seq == 3 {
			named = true
		}
		if p.Seq <= 0 {
			below++
		}
	}
	if !named || below != 1 {
		t.Errorf("the edited record 3 named: %v; problems below seq 1: %d, want 1 (%d problems, first %+v)", named, below, len(rep.Problems), rep.Problems[0])
	}
}
