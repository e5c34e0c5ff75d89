package config_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestAuditRetentionBounds: a retention below an hour or above a hundred
// years is refused at its line, days included, however many there are
// (213504 days once wrapped around to 25 minutes, 106752 to a negative
// retention); those in bounds are read exactly.
func TestAuditRetentionBounds(t *testing.T) {
	const bounds = ": want a number of days (90d) or a duration (720h), from 1h to 100 years (36500d)"
	for _, v := range []string{"213504d", "106752d", "36501d", "99999999999999999999d", "876001h",
		"1ns", "59m", "0d", "-1d", "-1h", "2562048h", "d", "90 d", "forever"} {
		_, err := parse(t, "tenant: acme\naudit:\n  retention: \""+v+"\"\n")
		want := []string{`t.yaml:3: audit.retention: "` + v + `"` + bounds}
		if diff := cmp.Diff(want, problems(t, err)); diff != "" {
			t.Errorf("retention %s (-want +got):\n%s", v, diff)
		}
		if d := config.Retention(v); d != 0 {
			t.Errorf("Retention(%q) = %v, want 0 (forever)", v, d)
		}
	}
	for v, want := range map[string]time.Duration{
		"1h": time.Hour, "90d": 90 * 24 * time.Hour, "2160h": 2160 * time.Hour,
		"36500d": 36500 * 24 * time.Hour, "876000h": 876000 * time.Hour,
	} {
		if _, err := parse(t, "tenant: acme\naudit:\n  retention: \""+v+"\"\n"); err != nil {
			t.Errorf("retention %s: %v", v, err)
		}
		if d := config.Retention(v); d != want {
			t.Errorf("Retention(%q) = %v, want %v", v, d, want)
		}
	}
}
