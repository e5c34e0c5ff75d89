package sqldb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// A filter on a person, an agent, a tool or one call is answered through
// that column's index, not by reading the whole trail: the indexes hold
// only rows where the column is set, and a planner preparing "actor = ?"
// cannot know that the value will not be empty unless the query says so
// (SQLite read every record in seq order for a trace; PostgreSQL's
// generic plan scanned the table).
func TestAuditFiltersUseTheirIndexes(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			// Enough records, with the usual spread of values, that the
			// planner's statistics favour an index that can be used.
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for batch := range 4 {
				_, err := s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
					recs := make([]store.AuditRecord, 500)
					prev := h.Hash
					for i := range recs {
						n := batch*500 + i
						recs[i] = store.AuditRecord{Seq: h.Seq + int64(i) + 1, Time: t0.Add(time.Duration(n) * time.Second),
							Event: []byte(`{}`), Prev: prev, Hash: fmt.Sprint(n), Type: "tool.decision",
							Actor: fmt.Sprint("person", n%200), Agent: fmt.Sprint("agent", n%150), Tool: fmt.Sprint("tool", n%300),
							Decision: "allow", Correlation: fmt.Sprint("call", n), Session: fmt.Sprint("s", n%100)}
						prev = recs[i].Hash
					}
					return recs, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if b.Name == "postgres" {
				if _, err := s.SQL().ExecContext(ctx, "ANALYZE audit_log"); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				f     store.AuditFilter
				index string
			}{
				{store.AuditFilter{Actor: "person7"}, "audit_log_actor"},
				{store.AuditFilter{Agent: "agent7", Desc: true, Limit: 10}, "audit_log_agent"},
				{store.AuditFilter{Tool: "tool7", After: 100}, "audit_log_tool"},
				{store.AuditFilter{Correlation: "call7", Limit: 1000}, "audit_log_correlation"},
			} {
				plan, err := s.ExplainAudit(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(plan, tc.index) {
					t.Errorf("%+v: the plan does not use %s:\n%s", tc.f, tc.index, plan)
				}
			}
		})
	}
}
