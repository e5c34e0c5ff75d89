package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestVerifyFlagsRecordsInThePrunedPart: after a prune, a record inserted
// behind the writer's back at a seq the prune checkpoint says was cut (here
// a login of mallory's that queries would show like any other) is reported
// by verify as standing in the pruned part, and the report is not OK.
// Before, the walk started after the anchor and never saw it.
func TestVerifyFlagsRecordsInThePrunedPart(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, events(5)...)
		cut := e.clock.Now()
		e.clock.Advance(time.Hour)
		e.record(t, events(3)...)
		if n, err := e.log.Prune(ctx, cut); err != nil || n != 5 {
			t.Fatalf("prune %d %v", n, err)
		}
		if rep, err := e.log.Verify(ctx, nil); err != nil || !rep.OK {
			t.Fatalf("after the prune: %v %+v", err, rep)
		}
		ev := `{"type":"login.succeeded","actor":"mallory"}`
		at := e.clock.Now().UnixMicro()
		e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (?, ?, ?, ?, ?, ?, 'mallory')`,
			3, at, ev, audit.Genesis, specHash(audit.Genesis, 3, at, ev), audit.LoginSucceeded)
		rep, _ := e.log.Verify(ctx, nil)
		if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Kind != audit.ProblemPruned || rep.Problems[0].Seq != 3 {
			t.Errorf("a record in the pruned part: %+v, want one %q problem at record 3", rep, audit.ProblemPruned)
		}
	})
}

// leaveBehind puts records back as a pruning cut short after its
// checkpoint committed (killed, or its context ended while deleting)
// leaves them: the store deletes from the oldest on.
func (e *env) leaveBehind(t *testing.T, recs []store.AuditRecord) {
	t.Helper()
	for _, r := range recs {
		e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, sig, type, actor, agent, tool, decision, correlation, session)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, r.Time.UnixMicro(), string(r.Event), r.Prev, r.Hash, r.Sig,
			r.Type, r.Actor, r.Agent, r.Tool, r.Decision, r.Correlation, r.Session)
	}
}

// TestPruneCutShortIsFinished: records a pruning left at or before its
// checkpoint, when its deleting was cut short, are no break (verify counts
// them as leftovers), and the next pruning deletes them, even with nothing
// new to prune. Before, verify called the chain broken and Prune, which
// verifies first, refused for ever. A leftover edited, or a record among
// them that does not link up to the checkpoint, is still reported.
func TestPruneCutShortIsFinished(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		for _, tt := range []struct {
			name string
			from int64 // the first record left
		}{
			{"killed before deleting", 1},
			{"killed while deleting", 4},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, open, nil)
				ctx := context.Background()
				e.record(t, events(5)...)
				cut := e.clock.Now()
				e.clock.Advance(time.Hour)
				e.record(t, events(3)...)
				old, err := e.st.AuditRecords(ctx, store.AuditFilter{After: tt.from - 1, Before: 6})
				if err != nil {
					t.Fatal(err)
				}
				if n, err := e.log.Prune(ctx, cut); err != nil || n != 5 {
					t.Fatalf("prune %d %v", n, err)
				}
				e.leaveBehind(t, old)
				left := int64(len(old))

				rep := mustVerify(t, e.log)
				if rep.Anchor == nil || rep.Anchor.Seq != 5 || rep.First != 6 || rep.Leftovers != left {
					t.Errorf("verify with leftovers: %+v, want anchor 5, first 6, %d leftovers", rep, left)
				}
				// Nothing new is old enough: the leftovers go all the same,
				// and no second checkpoint is signed for them.
				if n, err := e.log.Prune(ctx, cut); err != nil || n != left {
					t.Fatalf("prune finishing: %d, %v; want %d", n, err, left)
				}
				if rep := mustVerify(t, e.log); rep.Leftovers != 0 || rep.Anchor.Seq != 5 {
					t.Errorf("after the prune that finished: %+v", rep)
				}
				if cps, err := e.log.Checkpoints(ctx); err != nil || len(cps) != 1 {
					t.Errorf("checkpoints %+v, %v; want the one pruning checkpoint", cps, err)
				}
			})
		}

		t.Run("tampering among leftovers", func(t *testing.T) {
			e := newEnv(t, open, nil)
			ctx := context.Background()
			e.record(t, events(5)...)
			cut := e.clock.Now()
			e.clock.Advance(time.Hour)
			e.record(t, events(3)...)
			old, err := e.st.AuditRecords(ctx, store.AuditFilter{Before: 6})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := e.log.Prune(ctx, cut); err != nil || n != 5 {
				t.Fatalf("prune %d %v", n, err)
			}
			e.leaveBehind(t, old[3:]) // 4, 5
			// A record that does not link up to the leftovers.
			ev := `{"type":"login.succeeded","actor":"mallory"}`
			at := e.clock.Now().UnixMicro()
			e.exec(t, `INSERT INTO audit_log (seq, at, event, prev, hash, type, actor) VALUES (2, ?, ?, ?, ?, ?, 'mallory')`,
				at, ev, audit.Genesis, specHash(audit.Genesis, 2, at, ev), audit.LoginSucceeded)
			wantBroken(t, e.log, nil, 2, audit.ProblemPruned)
			if _, err := e.log.Prune(ctx, cut); !errors.Is(err, audit.ErrChainBroken) {
				t.Errorf("prune over a planted record: %v", err)
			}
			e.exec(t, `DELETE FROM audit_log WHERE seq = 2`)
			// A leftover edited: it no longer hashes to the hash the next
			// one (or the checkpoint) links to.
			e.exec(t, `UPDATE audit_log SET event = ?, actor = 'mallory' WHERE seq = 4`,
				`{"type":"tool.decision","actor":"mallory"}`)
			wantBroken(t, e.log, nil, 4, audit.ProblemPruned)
			// Its query columns edited only.
			e.exec(t, `DELETE FROM audit_log WHERE seq = 4`)
			e.leaveBehind(t, old[3:4])
			e.exec(t, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`)
			wantBroken(t, e.log, nil, 5, audit.ProblemIndex)
		})
	})
}
