package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

// TestInvalidUTF8InIndexedFields: values that are not UTF-8 (a username
// typed at the login form as %FF%FE, a long name cut mid-character by
// whoever passed it on) are kept in the index columns as the stored event
// holds them, one U+FFFD per bad byte: the untouched trail verifies, and
// a query for such a value finds its record. Before, the columns kept one
// U+FFFD per run of bad bytes, and verify called every such record's
// columns tampered (which also stopped retention).
func TestInvalidUTF8InIndexedFields(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes: past the index's cut
	evs := []audit.Event{
		{Type: audit.LoginFailed, Actor: "\xff\xfeadmin"},
		{Type: audit.LoginFailed, Actor: "al\xff\xfe\xfdice", Session: "s\x80\x80"},
		{Type: audit.ToolDecided, Actor: long[:len(long)-1], Agent: "日本"[:5] + "-agent", Tool: "t\xe2\x82", Decision: "allow"},
		{Type: audit.ToolDecided, Actor: "bob", Correlation: "c\xed\xa0\x80\x00x"}, // a surrogate, a NUL
	}
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		ctx := context.Background()
		e.record(t, evs...)
		mustVerify(t, e.log)
		for i, ev := range evs {
			for _, f := range []audit.Filter{
				{Actor: ev.Actor}, {Agent: ev.Agent}, {Tool: ev.Tool}, {Correlation: ev.Correlation}, {Session: ev.Session},
			} {
				if f.Actor+f.Agent+f.Tool+f.Correlation+f.Session == "" {
					continue
				}
				p, err := e.log.Query(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqsOf(p.Entries); len(got) != 1 || got[0] != int64(i+1) {
					t.Errorf("query %+v: records %v, want [%d]", f, got, i+1)
				}
			}
		}
	})
}
