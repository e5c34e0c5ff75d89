package slip

import (
	"strings"
	"testing"
	"time"
)

// An ID made while the clock reads 1970 or 1971 (a machine booted without
// a clock, not synchronised yet) does not start with "-" either, which a
// command line would take for a flag; IDs from a clock past that keep
// their order.
func TestIDsOfAnEarlyClock(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 0), time.Date(1971, 6, 1, 0, 0, 0, 0, time.UTC), time.Unix(-86400, 0)} {
		for range 100 {
			if id := newIDAt(at); strings.HasPrefix(id, "-") || len(id) != 22 {
				t.Fatalf("at %v: id %q", at, id)
			}
		}
	}
	if a, b := newIDAt(time.Date(1973, 1, 1, 0, 0, 0, 0, time.UTC)), newIDAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); a >= b {
		t.Errorf("an ID of 1973 (%q) sorts after one of 2026 (%q)", a, b)
	}
}
