package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
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
			fillTrail(t, s, 2000, func(n int) store.AuditRecord {
				return store.AuditRecord{Type: "tool.decision",
					Actor: fmt.Sprint("person", n%200), Agent: fmt.Sprint("agent", n%150), Tool: fmt.Sprint("tool", n%300),
					Decision: "allow", Correlation: fmt.Sprint("call", n), Session: fmt.Sprint("s", n%100)}
			})
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

// A filter on a person, an agent or a tool within a time window is read
// through whichever index holds fewer of the records to look at: the
// window's (at) when it is narrow and the value common (a busy agent's
// last minute: the column's index would have every record of it before
// that minute read, and more as the trail grows), the column's when the
// value is rare and the window wide. SQLite keeps no statistics to tell
// them apart (PostgreSQL does, and is left to choose).
func TestAuditWindowReadThroughTheCheaperIndex(t *testing.T) {
	s := storetest.OpenSQLite(t)
	ctx := context.Background()
	const n = 24000
	fillTrail(t, s, n, func(k int) store.AuditRecord {
		actor, tool := "busy", "busy_tool"
		if k%1000 == 0 {
			actor, tool = "rare", "rare_tool"
		}
		return store.AuditRecord{Type: "tool.decision", Actor: actor, Agent: actor + "_agent", Tool: tool,
			Decision: "allow", Correlation: fmt.Sprint("call", k), Session: "s"}
	})
	for _, tc := range []struct {
		f     store.AuditFilter
		index string
	}{
		{store.AuditFilter{Actor: "busy", Since: at(20000), Until: at(20060)}, "audit_log_at"},
		{store.AuditFilter{Agent: "busy_agent", Since: at(n - 60)}, "audit_log_at"},
		{store.AuditFilter{Tool: "busy_tool", Until: at(60), Desc: true, Limit: 10}, "audit_log_at"},
		{store.AuditFilter{Actor: "busy", Tool: "busy_tool", Since: at(100), Until: at(200), After: 50}, "audit_log_at"},
		{store.AuditFilter{Actor: "rare", Since: at(1000), Until: at(n - 1000)}, "audit_log_actor"},
		{store.AuditFilter{Tool: "rare_tool", Since: at(1000), Desc: true}, "audit_log_tool"},
		{store.AuditFilter{Actor: "busy", Tool: "rare_tool", Since: at(1000)}, "audit_log_tool"},
		{store.AuditFilter{Correlation: "call20010", Actor: "busy", Since: at(20000), Until: at(20060)}, "audit_log_correlation"},
	} {
		plan, err := s.ExplainAudit(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, tc.index+" ") {
			t.Errorf("%+v: the plan does not use %s:\n%s", tc.f, tc.index, plan)
		}
		// And the answer is the same either way.
		sameAnswer(t, s, tc.f, n)
	}
}

// t0 is when the trails of these tests start; at(k) is when their record
// k (from 0) was written, a second after the one before.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(k int) time.Time { return t0.Add(time.Duration(k) * time.Second) }

// fillTrail appends n records to s's trail in batches of 1,000, record k
// as rec(k) makes it, at at(k) and linked to the one before, and on
// PostgreSQL brings the planner's statistics up to date.
func fillTrail(t *testing.T, s *sqldb.DB, n int, rec func(k int) store.AuditRecord) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += 1000 {
		_, err := s.AppendAudit(ctx, func(h store.AuditHead) ([]store.AuditRecord, error) {
			recs := make([]store.AuditRecord, min(1000, n-start))
			prev := h.Hash
			for i := range recs {
				k := start + i
				r := rec(k)
				r.Seq, r.Time, r.Event, r.Prev, r.Hash = h.Seq+int64(i)+1, at(k), []byte(`{}`), prev, fmt.Sprint(k)
				recs[i], prev = r, r.Hash
			}
			return recs, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Dialect() == "postgres" {
		if _, err := s.SQL().ExecContext(ctx, "ANALYZE audit_log"); err != nil {
			t.Fatal(err)
		}
	}
}

// sameAnswer checks that AuditRecords(f) answers what a reading of every
// record of s's trail (of n records) would.
func sameAnswer(t *testing.T, s *sqldb.DB, f store.AuditFilter, n int) {
	t.Helper()
	ctx := context.Background()
	got, err := s.AuditRecords(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.AuditRecords(ctx, store.AuditFilter{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, r := range all {
		if (f.After == 0 || r.Seq > f.After) && (f.Before == 0 || r.Seq < f.Before) &&
			(len(f.Types) == 0 || slices.Contains(f.Types, r.Type)) && (f.Actor == "" || f.Actor == r.Actor) &&
			(f.Agent == "" || f.Agent == r.Agent) && (f.Tool == "" || f.Tool == r.Tool) &&
			(f.Correlation == "" || f.Correlation == r.Correlation) &&
			(f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until)) {
			want = append(want, r.Seq)
		}
	}
	if f.Desc {
		slices.Reverse(want)
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	want = want[:min(len(want), limit)]
	var seqs []int64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, want) {
		t.Errorf("%+v: %v, want %v", f, seqs, want)
	}
}

// A time window that is a query's only bound read through an index is
// read the cheaper way: through the window's index (at) when it holds
// fewer records than a reading in seq order would pass before it (the
// trail before "since one hour ago", the whole of it), in seq order when
// that reaches the window soon (a page of a paging through a wide window,
// the first record since a cut a retention prunes at). SQLite keeps no
// statistics and read a one-sided window always in seq order and a
// two-sided one always through its index (the whole window on every page
// of a paging); PostgreSQL's generic plan, which a prepared statement
// settles on after five runs, took a third of the trail to be within any
// "at >= $1" and read a recent window in seq order from the start.
func TestAuditWindowsReadTheCheaperWay(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			const n = 24000
			fillTrail(t, s, n, func(k int) store.AuditRecord {
				typ := "tool.decision"
				if k%50 == 0 {
					typ = "login.succeeded"
				}
				return store.AuditRecord{Type: typ, Actor: fmt.Sprint("person", k%200), Agent: "agent", Tool: fmt.Sprint("tool", k%30),
					Decision: "allow", Correlation: fmt.Sprint("call", k), Session: "s"}
			})
			for _, tc := range []struct {
				f      store.AuditFilter
				byTime bool
			}{
				// The last minute, oldest first (an admin's since=1m).
				{store.AuditFilter{Since: at(n - 60)}, true},
				{store.AuditFilter{Since: at(n - 600), Types: []string{"login.succeeded"}}, true},
				// The first minute, newest first.
				{store.AuditFilter{Until: at(60), Desc: true, Limit: 10}, true},
				{store.AuditFilter{Since: at(12000), Until: at(12060)}, true},
				// Pages of an export of a wide window, either way.
				{store.AuditFilter{Since: at(1000), Until: at(n - 1000), After: 5000, Limit: 1000}, false},
				{store.AuditFilter{Since: at(1000), Until: at(n - 1000), Before: n - 5000, Desc: true, Limit: 1000}, false},
				// The first record a retention keeps.
				{store.AuditFilter{Since: at(100), Limit: 1}, false},
			} {
				plan, err := s.ExplainAudit(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(plan, "audit_log_at "); got != tc.byTime {
					t.Errorf("%+v: through the window's index: %v, want %v:\n%s", tc.f, got, tc.byTime, plan)
				}
				sameAnswer(t, s, tc.f, n)
			}
		})
	}
}
