package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

func init() {
	Register(Case{"AuditRecordsFilterMany", testAuditFilterMany})
}

// Filters over a trail of several hundred records, appended in batches of
// many sizes and then pruned in part, answer exactly what a reading of
// every record would: in order, either way, within the limit, through
// each index and around it.
func testAuditFilterMany(t *testing.T, s *sqldb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var all []store.AuditRecord
	appendSome := func(batches ...int) {
		t.Helper()
		for _, n := range batches {
			_, err := s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
				recs := make([]store.AuditRecord, n)
				prev := h.Hash
				for i := range recs {
					seq := h.Seq + int64(i) + 1
					r := store.AuditRecord{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Minute),
						Event: []byte(`{}`), Prev: prev, Hash: fmt.Sprint("h", seq),
						Type: []string{"tool.decision", "tool.result", "login.succeeded"}[seq%3], Decision: []string{"", "allow", "deny"}[seq%3],
						Session: fmt.Sprint("s", seq%4)}
					if seq%5 != 0 { // some records name nobody, no agent, no tool, no call
						r.Actor, r.Agent, r.Tool = fmt.Sprint("p", seq%7), fmt.Sprint("a", seq%3), fmt.Sprint("t", seq%11)
						r.Correlation = fmt.Sprint("c", seq/2)
					}
					recs[i], prev = r, r.Hash
				}
				return recs, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AuditRecords(ctx, store.AuditFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		all = got
	}
	matches := func(f store.AuditFilter, r store.AuditRecord) bool {
		eq := func(want, got string) bool { return want == "" || want == got }
		return (f.After == 0 || r.Seq > f.After) && (f.Before == 0 || r.Seq < f.Before) &&
			(len(f.Types) == 0 || slices.Contains(f.Types, r.Type)) &&
			eq(f.Actor, r.Actor) && eq(f.Agent, r.Agent) && eq(f.Tool, r.Tool) && eq(f.Decision, r.Decision) &&
			eq(f.Correlation, r.Correlation) && eq(f.Session, r.Session) &&
			(f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until))
	}
	check := func(stage string) {
		t.Helper()
		last := all[len(all)-1].Seq
		filters := []store.AuditFilter{
			{Actor: "p3"}, {Actor: "p3", Desc: true, Limit: 7}, {Actor: "p3", After: last - 150, Limit: 20},
			{Actor: "p3", Before: last - 5, Desc: true, Limit: 30}, {Agent: "a1", Tool: "t4", Limit: 1000},
			{Tool: "t2", Types: []string{"tool.result"}, Limit: 1000}, {Correlation: fmt.Sprint("c", last/2)},
			{Correlation: "c60", Desc: true}, {Actor: "p1", Decision: "deny", Session: "s1", Limit: 1000},
			{Since: t0.Add(100 * time.Minute), Until: t0.Add(140 * time.Minute)},
			{Since: t0.Add(time.Duration(last-40) * time.Minute), Desc: true, Limit: 25},
			{Actor: "p2", Since: t0.Add(200 * time.Minute), Limit: 1000}, {Actor: "nobody"},
			{Types: []string{"login.succeeded"}, After: last - 10},
			// Windows read either way (sqldb's windowOrSeq): pages of a
			// wide one, its first record, an edge, none.
			{Since: t0.Add(180 * time.Minute), Until: t0.Add(time.Duration(last-20) * time.Minute), After: 300, Limit: 40},
			{Since: t0.Add(180 * time.Minute), Until: t0.Add(time.Duration(last-20) * time.Minute), Before: 300, Desc: true, Limit: 40},
			{Since: t0.Add(180 * time.Minute), Until: t0.Add(time.Duration(last-20) * time.Minute), After: last - 25, Limit: 40},
			{Since: t0.Add(180 * time.Minute), Limit: 1}, {Until: t0.Add(200 * time.Minute), Desc: true, Limit: 3},
			{Since: t0.Add(time.Duration(last-5) * time.Minute), Types: []string{"tool.result"}},
			{Since: t0.Add(time.Duration(last+5) * time.Minute)}, {Until: t0.Add(time.Minute), Desc: true},
		}
		for _, r := range all { // every record, by its call
			if r.Correlation != "" && (len(filters) == 0 || filters[len(filters)-1].Correlation != r.Correlation) {
				filters = append(filters, store.AuditFilter{Correlation: r.Correlation})
			}
		}
		for _, f := range filters {
			want := []int64{}
			for _, r := range all {
				if matches(f, r) {
					want = append(want, r.Seq)
				}
			}
			if f.Desc {
				slices.Reverse(want)
			}
			limit := f.Limit
			if limit <= 0 {
				limit = 100
			}
			want = want[:min(len(want), limit)]
			got, err := s.AuditRecords(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, auditSeqs(got)); diff != "" {
				t.Errorf("%s: %+v (-want +got):\n%s", stage, f, diff)
			}
		}
	}
	appendSome(1, 50, 100, 3)
	check("first")
	appendSome(200, 1, 1, 1, 40, 90)
	check("second")
	if _, err := s.PruneAudit(ctx, t0.Add(170*time.Minute), 0, func(last store.AuditRecord) (store.AuditCheckpoint, error) {
		return store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, Time: t0, Kind: "prune", JWS: "x"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	appendSome(130)
	if all[0].Seq != 170 {
		t.Fatalf("after the prune the trail starts at %d, want 170", all[0].Seq)
	}
	check("pruned")
}
