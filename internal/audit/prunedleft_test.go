package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
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
