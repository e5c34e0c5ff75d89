package admin_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestAuditReadRecordKeepsTheQueryWhateverItsLength: repeating a value of
// the repeatable "type" parameter changes nothing in the answer; it must
// not push the audit.read record past the trail's event size cap either
// (where the record would keep only {"truncated":true,"size":N}, and the
// trail no longer say whose records the admin read). A type asked twice
// is recorded once, and a value longer than 2048 bytes is refused.
func TestAuditReadRecordKeepsTheQueryWhateverItsLength(t *testing.T) {
	ta, tok := startAPI(t)
	// Something to read.
	if status, body := ta.get(t, "/admin/api/audit", tok); status != 200 {
		t.Fatalf("first read: %d %s", status, body)
	}
	q := "actor=root&session=watched-session" + strings.Repeat("&type=audit.read", 5000)
	status, body := ta.get(t, "/admin/api/audit?"+q, tok)
	if status != 200 {
		t.Fatalf("padded read: %d %.300s", status, body)
	}
	page, err := ta.api.Audit.Query(t.Context(), audit.Filter{Types: []string{audit.AuditRead}})
	if err != nil {
		t.Fatal(err)
	}
	last := page.Entries[len(page.Entries)-1]
	if !strings.Contains(string(last.Raw), "watched-session") {
		t.Errorf("the audit.read of a padded query does not say what was read: %.300s", last.Raw)
	}
	if status, body := ta.get(t, "/admin/api/audit?actor="+strings.Repeat("a", 2049), tok); status != 400 || !strings.Contains(body, "longer than 2048") {
		t.Errorf("a 2049-byte actor: %d %.200s", status, body)
	}
}

// TestEmptyFilterValueIsRefused: a filter parameter given with an empty
// value (actor=, decision=, session=) is refused, as an unknown, repeated
// or malformed one is: taken as absent, it would widen the answer to the
// whole trail without a word.
func TestEmptyFilterValueIsRefused(t *testing.T) {
	ta, tok := startAPI(t)
	for _, q := range []string{"actor=", "session=", "correlation=", "decision=", "agent=", "tool="} {
		status, body := ta.get(t, "/admin/api/audit?"+q, tok)
		if status != 400 {
			t.Errorf("%s: %d %.200s; want 400: an empty filter value widens the answer to every record", q, status, body)
		}
	}
}
