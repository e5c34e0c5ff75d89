package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestVerifyNamesTheRecordChangedMidBatch: under load one commit holds
// many records and only its last is signed. An attacker at the database
// changes a record in the middle of such a batch (a decision made
// mallory's) and writes its hash to match, leaving the records after it
// alone. Verify names that record, not the next one: the next still
// links, through the records after it, to the batch's signature, so it is
// as written, and the record it links to is not.
func TestVerifyNamesTheRecordChangedMidBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		ctx := context.Background()
		changed := `{"type":"tool.decision","actor":"mallory","decision":"allow"}`
		rewrite := func(t *testing.T, e *env, seq int64, ev string) {
			t.Helper()
			var prev string
			var at int64
			if err := e.st.SQL().QueryRow(e.st.Rebind(`SELECT prev, at FROM audit_log WHERE seq = ?`), seq).Scan(&prev, &at); err != nil {
				t.Fatal(err)
			}
			e.exec(t, `UPDATE audit_log SET event = ?, hash = ?, actor = 'mallory', agent = '', tool = '', correlation = '' WHERE seq = ?`,
				ev, specHash(prev, seq, at, ev), seq)
		}

		t.Run("record changed, its hash rewritten", func(t *testing.T) {
			e := newEnv(t, open, nil)
			if err := e.log.RecordAll(ctx, events(6)...); err != nil {
				t.Fatal(err)
			}
			rewrite(t, e, 3, changed)
			rep := wantBroken(t, e.log, nil, 3, audit.ProblemEdited)
			for _, p := range rep.Problems {
				if p.Seq == 4 {
					t.Errorf("record 4, as written, is named: %+v", rep.Problems)
				}
			}
			if d := rep.Problems[0].Detail; !strings.Contains(d, "record 4") || !strings.Contains(d, "record 6") {
				t.Errorf("detail %q does not say what shows it", d)
			}
		})

		t.Run("record replaced, linking to the one before", func(t *testing.T) {
			e := newEnv(t, open, nil)
			if err := e.log.RecordAll(ctx, events(6)...); err != nil {
				t.Fatal(err)
			}
			e.exec(t, `UPDATE audit_log SET at = at - 1 WHERE seq = 4`)
			rewrite(t, e, 4, changed)
			wantBroken(t, e.log, nil, 4, audit.ProblemEdited)
		})

		t.Run("the record after a signed one replaced", func(t *testing.T) {
			// Record 3 ends a signed batch: it is as written, and record 4,
			// which does not link to it, is the one named.
			e := newEnv(t, open, nil)
			e.record(t, events(3)...)
			if err := e.log.RecordAll(ctx, events(3)...); err != nil {
				t.Fatal(err)
			}
			e.exec(t, `UPDATE audit_log SET prev = ? WHERE seq = 4`, strings.Repeat("ab", 32))
			rewrite(t, e, 4, changed)
			wantBroken(t, e.log, nil, 4, audit.ProblemUnlinked)
		})
	})
}
