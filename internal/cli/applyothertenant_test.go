package cli_test

import (
	"strings"
	"testing"
)

// TestApplyOfAnotherTenantsFileIsRefused: a data folder holds one tenant.
// Another tenant's file applied to it (the wrong --data, or the wrong -f)
// would rename the tenant and add the other tenant's people, apps and
// tools to it, who could then sign in here; with --prune, it would
// delete this tenant's. It is refused, naming both tenants, and changes
// nothing; --rename-tenant says the new name is meant.
func TestApplyOfAnotherTenantsFileIsRefused(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return run(t, nil, "", append(args, "--data", data)...) }
	must(t, c("apply", "-f", writeFile(t, "tenant: acme\nusers:\n  - {username: alice, password: \"alice's password\"}\n")))
	globex := writeFile(t, "tenant: globex\nusers:\n  - {username: zed, password: \"zed's password\"}\n")
	for _, args := range [][]string{{"apply", "-f", globex}, {"apply", "--prune", "-f", globex}, {"apply", "--dry-run", "-f", globex}} {
		r := c(args...)
		if r.code == 0 || !strings.Contains(r.stderr, `"acme"`) || !strings.Contains(r.stderr, `"globex"`) || !strings.Contains(r.stderr, "--rename-tenant") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	if users := must(t, c("user", "list")).stdout; strings.Contains(users, "zed") || !strings.Contains(users, "alice") {
		t.Errorf("a refused apply changed the people:\n%s", users)
	}
	// Meant, the tenant is renamed, and the plan says so.
	if out := must(t, c("apply", "--rename-tenant", "-f", globex)).stdout; !strings.Contains(out, "~ setting tenant (name)") {
		t.Errorf("--rename-tenant:\n%s", out)
	}
	if out := must(t, c("apply", "-f", globex)).stdout; strings.Contains(out, "setting tenant") {
		t.Errorf("applied again after the rename:\n%s", out)
	}
}
