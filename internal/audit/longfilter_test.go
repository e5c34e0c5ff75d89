package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestLongFilterValueMatchesItsOwn: a filter on an agent or person whose
// name is longer than an index column keeps (client ID metadata documents'
// URLs run to 2,000 bytes) answers that agent's or person's records only,
// in a query and in tail, not those of another that shares the first 200
// bytes. Before, both were answered.
func TestLongFilterValueMatchesItsOwn(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		base := "https://agents.example/" + strings.Repeat("c", 200)
		honest, other := base+"/honest.json", base+"/mallory.json"
		person := strings.Repeat("p", 220)
		e.record(t,
			audit.Event{Type: audit.ToolDecided, Actor: "alice", Agent: honest, Tool: "sales_report", Decision: "allow"},
			audit.Event{Type: audit.ToolDecided, Actor: "alice", Agent: other, Tool: "payroll_report", Decision: "allow"},
			audit.Event{Type: audit.LoginFailed, Actor: person + "-a"},
			audit.Event{Type: audit.LoginFailed, Actor: person + "-b"},
		)
		for _, tc := range []struct {
			f    audit.Filter
			want func(audit.Event) bool
		}{
			{audit.Filter{Agent: honest}, func(ev audit.Event) bool { return ev.Agent == honest }},
			{audit.Filter{Actor: person + "-a"}, func(ev audit.Event) bool { return ev.Actor == person+"-a" }},
		} {
			p, err := e.log.Query(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var tailed []audit.Entry
			if err := e.log.Tail(ctx, tc.f, 10, false, func(en audit.Entry) error { tailed = append(tailed, en); return nil }); err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string][]audit.Entry{"query": p.Entries, "tail": tailed} {
				if len(got) != 1 || !tc.want(got[0].Event) {
					t.Errorf("%s with a long filter value: %d records, want its own one", name, len(got))
				}
			}
		}
	})
}
