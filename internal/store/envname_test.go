package store_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUpstreamEnvRules: new configuration takes upper-case names only;
// stored configuration takes any name, lower-case included, so what was
// accepted before keeps working. Both refuse Gatehouse's own settings and
// what is no name at all, and neither message repeats what was given.
func TestUpstreamEnvRules(t *testing.T) {
	for _, tc := range []struct {
		name           string
		strict, stored bool // accepted
	}{
		{"FILES_TOKEN", true, true},
		{"_X1", true, true},
		{"https_proxy", false, true},
		{"Files_Token", false, true},
		{"GATEHOUSE_MASTER_KEY", false, false},
		{"gatehouse_master_key", false, false},
		{"", false, false},
		{"1BAD", false, false},
		{"ghp_x y", false, false},
		{"CRM_KEY=S3cret", false, false},
	} {
		for _, c := range []struct {
			check func(string) string
			ok    bool
			rule  string
		}{{store.CheckUpstreamEnv, tc.strict, "CheckUpstreamEnv"}, {store.CheckStoredUpstreamEnv, tc.stored, "CheckStoredUpstreamEnv"}} {
			msg := c.check(tc.name)
			if (msg == "") != c.ok {
				t.Errorf("%s(%q) = %q, want accepted %v", c.rule, tc.name, msg, c.ok)
			}
			if tc.name != "" && strings.Contains(msg, tc.name) {
				t.Errorf("%s(%q) repeats it: %q", c.rule, tc.name, msg)
			}
		}
	}
}
