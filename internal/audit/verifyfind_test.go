package audit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// On SQLite the query indexes are rows of their own (audit_find), written
// behind the records. An edit there touches no record and no hash, yet
// would hide a record from the filters a reviewer uses: Verify reports it,
// and a forged index row shows nothing the record does not match.
func TestVerifyChecksTheQueryIndexRows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper string
		seq    int64
	}{
		{"index row names another person", `UPDATE audit_find SET actor = 'mallory' WHERE seq = 5`, 5},
		{"index row blanked", `UPDATE audit_find SET correlation = '' WHERE seq = 9`, 9},
		{"index row removed", `DELETE FROM audit_find WHERE seq = 7`, 7},
		{"index row moved in time", `UPDATE audit_find SET at = at + 3600000000 WHERE seq = 11`, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, storetestSQLite, nil)
			e.record(t, events(200)...) // past the mark where records are copied into audit_find
			if rep, err := e.log.Verify(context.Background(), nil); err != nil {
				t.Fatalf("before: %v %+v", err, rep.Problems)
			}
			e.exec(t, tc.tamper)
			rep, err := e.log.Verify(context.Background(), nil)
			if !errors.Is(err, audit.ErrChainBroken) || len(rep.Problems) == 0 {
				t.Fatalf("Verify = %v, %+v", err, rep.Problems)
			}
			if p := rep.Problems[0]; p.Seq != tc.seq || p.Kind != audit.ProblemIndex {
				t.Errorf("first problem %+v, want record %d, %s", p, tc.seq, audit.ProblemIndex)
			}
			// The store itself, under the Log's own check of each event.
			recs, err := e.st.AuditRecords(context.Background(), store.AuditFilter{Actor: "mallory"})
			if err != nil || len(recs) != 0 {
				t.Errorf("the store answered %d records for the forged person, %v", len(recs), err)
			}
		})
	}
}
