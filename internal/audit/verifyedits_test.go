package audit_test

import (
	"context"
	"testing"
)

// TestVerifyBulkEditCostDoesNotGrowPerRecord: every event of a trail
// rewritten by one UPDATE (an attacker's, or a well-meant anonymisation)
// breaks every record. Verify looks, for a record that does not hash, at
// the seqs around it for the one it was written as (to tell a move from an
// edit); done for every record of such a trail, that search made verify
// thousands of times slower than on an intact one, hours on a trail of
// millions. The report holds the first problems only, so the search is
// made only while there is room for what it finds: the cost of the edits
// over an intact walk must not grow with the number of records. Measured
// in allocations (each hash tried allocates), which do not depend on the
// machine's load.
func TestVerifyBulkEditCostDoesNotGrowPerRecord(t *testing.T) {
	ctx := context.Background()
	extra := func(n int) float64 {
		e := newEnv(t, storetestSQLite, nil)
		for range n / 500 {
			if err := e.log.RecordAll(ctx, events(500)...); err != nil {
				t.Fatal(err)
			}
		}
		intact := testing.AllocsPerRun(1, func() { mustVerify(t, e.log) })
		e.exec(t, `UPDATE audit_log SET event = replace(event, 'alice', 'alicf')`)
		edited := testing.AllocsPerRun(1, func() { wantBroken(t, e.log, nil, 1, "") })
		return edited - intact
	}
	small, large := extra(1500), extra(3000)
	if large > 1.5*small {
		t.Errorf("the edits cost %.0f allocations over an intact walk of 1,500 records, %.0f over one of 3,000: the cost grows with the records edited", small, large)
	}
}
