package cli_test

import (
	"strings"
	"testing"
)

// TestRepeatableFlagWinsOverItsVariable: a repeatable flag given on the
// command line replaces its GATEHOUSE_<FLAG> variable's values, as any flag
// does, rather than adding to them: `audit export --type audit.pruned` with
// GATEHOUSE_TYPE=admin.change set exports no admin.change record. Without
// the flag, the variable's values stand.
func TestRepeatableFlagWinsOverItsVariable(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	env := map[string]string{"GATEHOUSE_TYPE": "admin.change"}
	r := must(t, run(t, env, "", "audit", "export", "--type", "audit.pruned", "--data", data))
	if strings.Contains(r.stdout, `"admin.change"`) {
		t.Errorf("--type audit.pruned exported admin.change records (from GATEHOUSE_TYPE):\n%.300s", r.stdout)
	}
	if r := must(t, run(t, env, "", "audit", "export", "--data", data)); !strings.Contains(r.stdout, `"admin.change"`) {
		t.Errorf("GATEHOUSE_TYPE alone exported no admin.change record:\n%.300s", r.stdout)
	}
}
