package admin_test

import (
	"strings"
	"testing"
)

// TestZeroTimeBoundIsRefused: the zero time (0001-01-01T00:00:00Z, what a
// Go client formats for a time it never set) is how a filter says "no
// bound". Taken so, until=0001-01-01T00:00:00Z, before which no record
// is, answered the whole trail, and a since that is not before it went
// unrefused. It is refused with a reason instead.
func TestZeroTimeBoundIsRefused(t *testing.T) {
	ta, tok := startAPI(t)
	if status, body := ta.get(t, "/admin/api/audit", tok); status != 200 {
		t.Fatalf("first read: %d %s", status, body)
	}
	for _, q := range []string{
		"until=0001-01-01T00:00:00Z",
		"until=0000-12-31T23:00:00-01:00", // the same instant
		"since=2026-01-01T00:00:00Z&until=0001-01-01T00:00:00Z",
		"since=0001-01-01T00:00:00Z",
	} {
		status, body := ta.get(t, "/admin/api/audit?"+q, tok)
		if status != 400 || !strings.Contains(body, "zero time") {
			t.Errorf("%s: %d %.300s; want 400 naming the zero time", q, status, body)
		}
	}
}
