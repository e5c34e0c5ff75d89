package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestRecordConcurrent records from many goroutines at once: every record
// gets its own seq, the chain has no gap and verifies, and the writer
// committed them in fewer transactions than records.
func TestRecordConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		const workers, each = 16, 25
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[int64]bool{}
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					seq, err := e.log.Append(context.Background(), audit.Event{Type: audit.ToolsListed, Actor: "alice", Correlation: string(rune('a'+w)) + string(rune('a'+i))})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[seq] {
						t.Errorf("seq %d acknowledged twice", seq)
					}
					seen[seq] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for seq := int64(1); seq <= workers*each; seq++ {
			if !seen[seq] {
				t.Errorf("seq %d never acknowledged", seq)
			}
		}
		rep, err := e.log.Verify(context.Background(), nil)
		if err != nil {
			t.Fatalf("Verify: %v (%+v)", err, rep.Problems)
		}
		if rep.Records != workers*each || rep.Last != workers*each {
			t.Errorf("report %+v", rep)
		}
		st := e.log.Stats()
		if st.Records != workers*each || st.Failed != 0 {
			t.Errorf("stats %+v", st)
		}
		t.Logf("%d records in %d transactions", st.Records, st.Batches)
		if rep.Signatures != int(st.Batches) {
			t.Errorf("%d batch signatures verified, %d batches", rep.Signatures, st.Batches)
		}
	})
}

// TestHashFormat checks stored records against the documented hash, so an
// off-box verifier can be written from the documentation alone.
func TestHashFormat(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(3)...)
	p, err := e.log.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := audit.Genesis
	for _, en := range p.Entries {
		if en.Prev != prev {
			t.Errorf("record %d: prev %s, want %s", en.Seq, en.Prev, prev)
		}
		if want := specHash(en.Prev, en.Seq, en.Time.UnixMicro(), string(en.Raw)); en.Hash != want {
			t.Errorf("record %d: hash %s, documented formula gives %s", en.Seq, en.Hash, want)
		}
		if !en.Valid() {
			t.Errorf("record %d: not Valid", en.Seq)
		}
		prev = en.Hash
	}
}

// TestVerifyDetectsTampering tampers with the stored log in every way the
// issue names, directly in SQL, and checks that Verify names the right
// record.
func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, e *env)
		want   audit.Problem // Detail ignored
	}{
		{"edited event", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET event = ? WHERE seq = 3`, `{"type":"tool.decision","actor":"mallory","decision":"allow"}`)
		}, audit.Problem{Seq: 3, Kind: audit.ProblemEdited}},
		{"edited to garbage", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET event = 'not json' WHERE seq = 2`)
		}, audit.Problem{Seq: 2, Kind: audit.ProblemEdited}},
		{"edited index column only", func(t *testing.T, e *env) {
			// Not hashed, but filters would misattribute the record.
			e.exec(t, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 3`)
		}, audit.Problem{Seq: 3, Kind: audit.ProblemIndex}},
		{"index columns blanked", func(t *testing.T, e *env) {
			// Filters and traces would no longer find the record.
			e.exec(t, `UPDATE audit_log SET correlation = '', decision = '' WHERE seq = 2`)
		}, audit.Problem{Seq: 2, Kind: audit.ProblemIndex}},
		{"edited time", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET at = at + 1 WHERE seq = 4`)
		}, audit.Problem{Seq: 4, Kind: audit.ProblemEdited}},
		{"edited and rehashed", func(t *testing.T, e *env) {
			var prev, at = "", int64(0)
			if err := e.st.SQL().QueryRow(e.st.Rebind("SELECT prev, at FROM audit_log WHERE seq = 3")).Scan(&prev, &at); err != nil {
				t.Fatal(err)
			}
			ev := `{"type":"tool.decision","actor":"mallory"}`
			e.exec(t, `UPDATE audit_log SET event = ?, hash = ? WHERE seq = 3`, ev, specHash(prev, 3, at, ev))
		}, audit.Problem{Seq: 3, Kind: audit.ProblemSignature}},
		{"deleted", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq = 3`)
		}, audit.Problem{Seq: 3, Kind: audit.ProblemMissing}},
		{"deleted first", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq = 1`)
		}, audit.Problem{Seq: 1, Kind: audit.ProblemMissing}},
		{"reordered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET seq = 1000 WHERE seq = 3`)
			e.exec(t, `UPDATE audit_log SET seq = 3 WHERE seq = 4`)
			e.exec(t, `UPDATE audit_log SET seq = 4 WHERE seq = 1000`)
		}, audit.Problem{Seq: 3, Kind: audit.ProblemReordered}},
		{"appended out of band, not linking", func(t *testing.T, e *env) {
			prev := strings.Repeat("ab", 32)
			ev := `{"type":"tool.decision","actor":"mallory"}`
			at := e.clock.Now().UnixMicro()
			e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type) VALUES (7, ?, ?, ?, ?, 'tool.decision')`,
				at, ev, prev, specHash(prev, 7, at, ev))
			e.exec(t, `UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_log WHERE seq = 7)`)
		}, audit.Problem{Seq: 7, Kind: audit.ProblemUnlinked}},
		{"appended out of band, linking", func(t *testing.T, e *env) {
			e.forge(t, 7, "tool.decision", true)
		}, audit.Problem{Seq: 7, Kind: audit.ProblemUnsigned}},
		{"appended out of band, then appended onto", func(t *testing.T, e *env) {
			e.forge(t, 7, "tool.decision", true)
			// No checkpoint covers the forged head…
			if _, err := e.log.Checkpoint(context.Background()); !errors.Is(err, audit.ErrUnvouched) {
				t.Errorf("Checkpoint on a forged head: %v, want ErrUnvouched", err)
			}
			// …and a writer that appends onto it does not make it signed.
			e.record(t, events(2)...)
		}, audit.Problem{Seq: 7, Kind: audit.ProblemUnsigned}},
		{"appended behind the head", func(t *testing.T, e *env) {
			e.forge(t, 7, "logout", false)
		}, audit.Problem{Seq: 7, Kind: audit.ProblemUnsigned}},
		{"signature stripped, a checkpoint there", func(t *testing.T, e *env) {
			// A checkpoint proves the record was there, not that a
			// writer wrote it.
			e.exec(t, `UPDATE audit_log SET sig = '' WHERE seq = 6`)
		}, audit.Problem{Seq: 6, Kind: audit.ProblemUnsigned}},
		{"checkpoint's signature copied onto a record", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET sig = (SELECT jws FROM audit_checkpoints ORDER BY id DESC LIMIT 1) WHERE seq = 6`)
		}, audit.Problem{Seq: 6, Kind: audit.ProblemSignature}},
		{"appended out of band, appended onto, signatures stripped up to a checkpoint", func(t *testing.T, e *env) {
			e.forge(t, 7, "login.succeeded", true)
			e.record(t, events(2)...) // 8 and 9, the second signed as appended onto 8
			// The head (9) carries a writer's signature, so a checkpoint
			// signs it; then every batch signature since 7 goes.
			if _, err := e.log.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.exec(t, `UPDATE audit_log SET sig = '' WHERE seq > 7`)
		}, audit.Problem{Seq: 7, Kind: audit.ProblemUnsigned}},
		{"signature stripped", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET sig = '' WHERE seq = 6`)
			e.exec(t, `DELETE FROM audit_checkpoints`)
		}, audit.Problem{Seq: 6, Kind: audit.ProblemUnsigned}},
		{"signature moved", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET sig = (SELECT sig FROM audit_log WHERE seq = 2) WHERE seq = 5`)
		}, audit.Problem{Seq: 5, Kind: audit.ProblemSignature}},
		{"tail truncated", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq >= 5`)
		}, audit.Problem{Seq: 5, Kind: audit.ProblemTruncated}},
		{"tail truncated, head rewound", func(t *testing.T, e *env) {
			// The checkpoint of seq 6 taken before still names it.
			e.exec(t, `DELETE FROM audit_log WHERE seq >= 6`)
			e.exec(t, `UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5)`)
		}, audit.Problem{Seq: 6, Kind: audit.ProblemTruncated}},
		{"checkpoint forged", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_checkpoints SET jws = jws || 'A'`)
		}, audit.Problem{Seq: 6, Kind: audit.ProblemCheckpoint}},
	}
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, open, nil)
				ctx := context.Background()
				e.record(t, events(6)...)
				if _, err := e.log.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				if rep, err := e.log.Verify(ctx, nil); err != nil || !rep.OK {
					t.Fatalf("before tampering: %v %+v", err, rep)
				}
				tt.tamper(t, e)
				if _, err := e.log.Query(ctx, audit.Filter{}); err != nil {
					t.Errorf("a tampered log can no longer be read: %v", err)
				}
				rep, err := e.log.Verify(ctx, nil)
				if tt.want == (audit.Problem{}) {
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					return
				}
				if !errors.Is(err, audit.ErrChainBroken) {
					t.Fatalf("Verify: got %v, want ErrChainBroken (report %+v)", err, rep)
				}
				if rep.OK || len(rep.Problems) == 0 {
					t.Fatalf("report says OK: %+v", rep)
				}
				if diff := cmp.Diff(tt.want, rep.Problems[0], cmpopts.IgnoreFields(audit.Problem{}, "Detail")); diff != "" {
					t.Errorf("first problem (-want +got):\n%s\nall: %+v", diff, rep.Problems)
				}
			})
		}
	})
}

// TestExternalCheckpoints keeps an off-box copy of the checkpoints: a tail
// cut together with every trace of it in the store is still found.
func TestExternalCheckpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(4)...)
		c, err := e.log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Seq != 4 || c.Kind != audit.KindManual || c.JWS == "" {
			t.Errorf("checkpoint %+v", c)
		}
		var off bytes.Buffer
		if n, _, err := e.log.ExportCheckpoints(ctx, &off); err != nil || n != 1 {
			t.Fatalf("ExportCheckpoints: %d, %v", n, err)
		}
		copyCps, err := audit.ParseCheckpoints(&off)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]audit.Checkpoint{c}, copyCps); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}

		// Cut the tail and cover the tracks in the store.
		e.exec(t, `DELETE FROM audit_log WHERE seq >= 3`)
		e.exec(t, `UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)`)
		e.exec(t, `DELETE FROM audit_checkpoints`)
		if _, err := e.log.Verify(ctx, nil); err != nil {
			t.Fatalf("without the copy the cut is invisible, yet: %v", err)
		}
		rep, err := e.log.Verify(ctx, &audit.VerifyOptions{Checkpoints: copyCps})
		if !errors.Is(err, audit.ErrChainBroken) {
			t.Fatalf("with the copy: %v", err)
		}
		if p := rep.Problems[0]; p.Seq != 3 || p.Kind != audit.ProblemTruncated {
			t.Errorf("problem %+v", p)
		}

		// A copy signed by keys the store does not know is a finding: the
		// store, its keys with it, was replaced.
		other := audit.New(open(t), otherKeys(t), &audit.Options{CheckpointInterval: -1})
		defer other.Close()
		rep, err = other.Verify(ctx, &audit.VerifyOptions{Checkpoints: copyCps})
		if !errors.Is(err, audit.ErrChainBroken) || rep.Problems[0].Kind != audit.ProblemCheckpoint {
			t.Errorf("copy by unknown keys: %v %+v", err, rep.Problems)
		}

		// A forged copy does not count as evidence either way.
		forged := []audit.Checkpoint{{JWS: c.JWS[:len(c.JWS)-4] + "AAAA"}}
		rep, err = e.log.Verify(ctx, &audit.VerifyOptions{Checkpoints: forged})
		if !errors.Is(err, audit.ErrChainBroken) || rep.Problems[0].Kind != audit.ProblemCheckpoint {
			t.Errorf("forged checkpoint: %v %+v", err, rep.Problems)
		}
	})
}

// TestPrune prunes old records: the kept part verifies from the signed
// prune checkpoint, and removing that checkpoint is detected.
func TestPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(5)...) // 09:00:00 … 09:00:04
		cut := e.clock.Now()
		e.clock.Advance(time.Hour)
		e.record(t, events(3)...) // seq 6, 7, 8
		n, err := e.log.Prune(ctx, cut)
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("pruned %d, want 5", n)
		}
		rep, err := e.log.Verify(ctx, nil)
		if err != nil {
			t.Fatalf("Verify after prune: %v %+v", err, rep.Problems)
		}
		if rep.Anchor == nil || rep.Anchor.Seq != 5 || rep.Anchor.Kind != audit.KindPrune {
			t.Errorf("anchor %+v", rep.Anchor)
		}
		// 6, 7, 8 and the audit.pruned event.
		if rep.First != 6 || rep.Last != 9 || rep.Records != 4 {
			t.Errorf("report %+v", rep)
		}
		p, err := e.log.Query(ctx, audit.Filter{Types: []string{audit.AuditPruned}})
		if err != nil || len(p.Entries) != 1 {
			t.Fatalf("pruned event: %v %+v", err, p)
		}
		if got := p.Entries[0].Event.Detail["through_seq"]; got != float64(5) {
			t.Errorf("pruned event detail %+v", p.Entries[0].Event.Detail)
		}
		if n, err := e.log.Prune(ctx, cut); err != nil || n != 0 {
			t.Errorf("second prune: %d, %v", n, err)
		}

		// Without the anchor, the kept part starts with a hole.
		e.exec(t, `DELETE FROM audit_checkpoints WHERE kind = 'prune'`)
		rep, err = e.log.Verify(ctx, nil)
		if !errors.Is(err, audit.ErrChainBroken) || rep.Problems[0].Seq != 1 || rep.Problems[0].Kind != audit.ProblemMissing {
			t.Errorf("without the prune checkpoint: %v %+v", err, rep.Problems)
		}
	})
}

// TestMultiReplica writes one chain from two handles on one database, as
// two replicas would: one gap-free sequence that verifies.
func TestMultiReplica(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		other := storetestSecondHandle(t, e.st)
		l2 := audit.New(other, e.keys, &audit.Options{CheckpointInterval: -1})
		defer l2.Close()
		var wg sync.WaitGroup
		for w := range 8 {
			l := e.log
			if w%2 == 1 {
				l = l2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Waited records, several at once, and enqueued ones; the
				// last, waited, covers those enqueued before it.
				for i := range 20 {
					var err error
					switch i % 3 {
					case 0:
						err = l.Record(context.Background(), audit.Event{Type: audit.ToolsListed})
					case 1:
						err = l.RecordAll(context.Background(), events(3)...)
					case 2:
						err = l.Enqueue(context.Background(), audit.Event{Type: audit.ToolsListed})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		const want = 8 * (7 + 7*3 + 6) // per worker: 7 single, 7 of three, 6 enqueued
		for _, l := range []*audit.Log{e.log, l2} {
			rep, err := l.Verify(context.Background(), nil)
			if err != nil {
				t.Fatalf("Verify: %v %+v", err, rep.Problems)
			}
			if rep.Records != want || rep.Last != want {
				t.Errorf("report %+v", rep)
			}
		}
	})
}

// TestCloseDrains closes while records are queued: each Record either
// committed or failed with ErrClosed, and a close checkpoint covers the
// head.
func TestCloseDrains(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		acks int
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.log.Record(context.Background(), audit.Event{Type: audit.Logout})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				acks++
			case !errors.Is(err, audit.ErrClosed):
				t.Error(err)
			}
		}()
	}
	if err := e.log.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := e.log.Record(context.Background(), audit.Event{Type: audit.Logout}); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: %v", err)
	}
	l := audit.New(e.st, e.keys, &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	rep, err := l.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != int64(acks) {
		t.Errorf("%d records, %d acknowledged", rep.Records, acks)
	}
	cps, err := l.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if acks > 0 && (len(cps) != 1 || cps[0].Kind != audit.KindClose || cps[0].Seq != int64(acks)) {
		t.Errorf("checkpoints after Close: %+v", cps)
	}
}

// TestRetiredKeys verifies a log whose signatures were all made by keys
// no longer published (rotated out long ago): they count as unverifiable,
// the tail is then covered by no signature until a checkpoint by a
// current key covers it again.
func TestRetiredKeys(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(4)...)
	l := audit.New(e.st, otherKeys(t), &audit.Options{CheckpointInterval: -1})
	defer l.Close()
	ctx := context.Background()
	rep, err := l.Verify(ctx, nil)
	if !errors.Is(err, audit.ErrChainBroken) || rep.Problems[0].Kind != audit.ProblemUnsigned || rep.Problems[0].Seq != 1 {
		t.Fatalf("tail signed by unknown keys only: %v %+v", err, rep.Problems)
	}
	if rep.Unverifiable != 4 {
		t.Errorf("unverifiable %d, want 4", rep.Unverifiable)
	}
	// A head no known key signed is not vouched for by a new checkpoint.
	if _, err := l.Checkpoint(ctx); !errors.Is(err, audit.ErrUnvouched) {
		t.Fatalf("checkpoint over unknown signatures: %v", err)
	}
}

// TestExpiredKeysStillVerify: keys leave the JWKS a day after rotation,
// but the trail they signed still verifies, through the archive of their
// public halves.
func TestExpiredKeysStillVerify(t *testing.T) {
	st := storetestSQLite(t)
	clock := newClock()
	dir := t.TempDir()
	master, err := keys.LoadMasterKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := keys.NewSealer(master)
	ctx := context.Background()
	km, err := keys.Open(ctx, st, sealer, &keys.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(st, km, &audit.Options{Now: clock.Now, CheckpointInterval: -1})
	defer l.Close()
	for _, ev := range events(3) {
		if err := l.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := km.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(25 * time.Hour)
	}
	if err := l.Record(ctx, events(1)[0]); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx, nil)
	if err != nil || rep.Signatures != 4 || rep.Unverifiable != 0 {
		t.Fatalf("after the keys expired: %v %+v", err, rep)
	}
}

// TestVerifyWhileWriting: verify runs on a live log; records appended
// during the walk are not mistaken for a truncation or a tail past the
// head.
func TestVerifyWhileWriting(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(1500)...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := e.log.Record(ctx, events(1)[0]); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		before := e.log.Stats().Records
		for range 10 {
			if rep, err := e.log.Verify(ctx, nil); err != nil {
				t.Errorf("verify while writing: %v %+v", err, rep.Problems)
				break
			}
		}
		during := e.log.Stats().Records - before
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if during == 0 {
			t.Fatal("nothing was written while verify ran: the test proves nothing")
		}
	})
}

// otherKeys returns signing keys of another store: ones this test's logs
// never knew.
func otherKeys(t *testing.T) *keys.Manager {
	t.Helper()
	k, err := openKeys(storetestSQLite(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
