package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ParseTime reads a query's time bound: an RFC 3339 time, or a duration
// meaning that long before now (24h). "" is the zero time (no bound). A
// negative duration is refused: it would mean the future, where no record
// is, and the query would answer nothing as if nothing had happened. So is
// the zero time (0001-01-01T00:00:00Z), which Filter takes for no bound.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago, so it cannot be negative (24h for a day ago)", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("%q: want RFC 3339 (2026-11-02T09:00:00Z) or a duration (24h)", v)
	}
	// The zero time is what a filter takes for no bound: an until there,
	// before which no record is, would answer the whole trail.
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%q is the zero time, which bounds nothing: leave the bound out, or give another time", v)
	}
	return t, nil
}

// Check says what is wrong with f's values, or nil.
func (f Filter) Check() error {
	if f.Decision != "" && f.Decision != "allow" && f.Decision != "deny" {
		return fmt.Errorf("decision %q: want allow or deny", f.Decision)
	}
	if f.After < 0 {
		return fmt.Errorf("after %d: a cursor is a record's seq, never negative", f.After)
	}
	if f.Upto < 0 {
		return fmt.Errorf("upto %d: a bound is a record's seq, never negative", f.Upto)
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return fmt.Errorf("limit %d: want 1 to 1000", f.Limit)
	}
	// Mistakes that would otherwise answer nothing, as if nothing had
	// happened: a misspelt event type, an empty time window.
	for _, t := range f.Types {
		if !slices.Contains(Types, t) {
			return fmt.Errorf("type %q: no such event type (known: %s)", t, strings.Join(Types, ", "))
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("since %s is not before until %s: no record could match",
			f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	return nil
}
