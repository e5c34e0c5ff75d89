package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestFilterValueAtIndexLengthMatchesExactly: a filter value no longer than
// an index column keeps (200 bytes, or 199 where the cut falls inside a
// multi-byte rune) must answer only records with exactly that value, in
// Query, Tail and Export, not also those whose longer value starts with it.
func TestFilterValueAtIndexLengthMatchesExactly(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		p200 := strings.Repeat("p", 200)
		p199 := strings.Repeat("q", 199)
		e.record(t,
			audit.Event{Type: audit.LoginFailed, Actor: p200},
			audit.Event{Type: audit.LoginFailed, Actor: p200 + "-mallory"},
			audit.Event{Type: audit.LoginFailed, Actor: p199},
			audit.Event{Type: audit.LoginFailed, Actor: p199 + "é-mallory"}, // index keeps 199 bytes
		)
		for _, want := range []string{p200, p199} {
			f := audit.Filter{Actor: want}
			p, err := e.log.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var tailed []audit.Entry
			if err := e.log.Tail(ctx, f, 10, false, func(en audit.Entry) error { tailed = append(tailed, en); return nil }); err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			n, err := e.log.Export(ctx, &buf, f)
			if err != nil {
				t.Fatal(err)
			}
			for name, got := range map[string]int{"query": len(p.Entries), "tail": len(tailed), "export": int(n)} {
				if got != 1 {
					t.Errorf("%s with a %d-byte actor filter: %d records, want only its own 1 (another actor whose name starts with it came too)",
						name, len(want), got)
				}
			}
		}
	})
}

// TestSinceUntilSubMicrosecondBoundary: since is inclusive and until
// exclusive (Filter, --since/--until). A bound with sub-microsecond digits
// (--since 24h is now minus a day, to the nanosecond; RFC 3339 takes
// fractions) must not take in a record before since, nor leave out one
// before until: records are stored to the microsecond.
func TestSinceUntilSubMicrosecondBoundary(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		t0 := e.clock.Now()
		e.record(t, audit.Event{Type: audit.Logout, Actor: "0"}, audit.Event{Type: audit.Logout, Actor: "1"}, audit.Event{Type: audit.Logout, Actor: "2"})
		t1 := t0.Add(time.Second) // record "1"'s time, exactly
		bound, err := audit.ParseTime(t1.Add(500*time.Nanosecond).Format(time.RFC3339Nano), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			f    audit.Filter
			want string
		}{
			{"until just after record 1", audit.Filter{Until: bound}, "01"},
			{"since just after record 1", audit.Filter{Since: bound}, "2"},
		} {
			p, err := e.log.Query(context.Background(), c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, en := range p.Entries {
				got += en.Event.Actor
				if !c.f.Since.IsZero() && en.Time.Before(c.f.Since) {
					t.Errorf("%s: record %d at %s is before since %s", c.name, en.Seq, en.Time.Format(time.RFC3339Nano), c.f.Since.Format(time.RFC3339Nano))
				}
			}
			if got != c.want {
				t.Errorf("%s: records %q, want %q", c.name, got, c.want)
			}
		}
	})
}
