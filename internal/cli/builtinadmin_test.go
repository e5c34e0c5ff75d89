package cli_test

import (
	"strings"
	"testing"
)

// TestAdminRoleIsBuiltIn: the admin role is built into every tenant
// (DESIGN.md), not only into one a tenant file was applied to. A tenant
// run with 'gatehouse serve' and managed with the admin commands must be
// able to name its first admin, and the role that comes into being for it
// is the built-in one, recorded in the audit trail as any new role is.
func TestAdminRoleIsBuiltIn(t *testing.T) {
	data := t.TempDir()
	c := func(stdin string, args ...string) result {
		return must(t, run(t, nil, stdin, append(args, "--data", data)...))
	}
	c("a password for root\n", "user", "add", "root", "--password-stdin", "--role", "admin")
	if u := c("", "user", "list").stdout; !strings.Contains(u, "admin") {
		t.Errorf("root is not an admin:\n%s", u)
	}
	if r := c("", "role", "list").stdout; !strings.Contains(r, "built-in") {
		t.Errorf("the admin role is not listed as built in:\n%s", r)
	}
	role := lastChange(t, data, "role", "admin")
	if role.Event.Detail.Op != "+" || role.Event.Detail.After["built_in"] != true {
		t.Errorf("the admin role's creation: %+v", role.Event.Detail)
	}
	user := lastChange(t, data, "user", "root")
	if roles, _ := user.Event.Detail.After["roles"].([]any); len(roles) != 1 || roles[0] != "admin" {
		t.Errorf("root's record: %+v", user.Event.Detail)
	}

	// Granted to a second person, it is not made again.
	c("", "user", "add", "carol")
	c("", "user", "grant", "carol", "admin")
	_, recs := exported(t, data, "admin.change")
	made := 0
	for _, r := range recs {
		if r.Event.Detail.Kind == "role" && r.Event.Detail.Name == "admin" {
			made++
		}
	}
	if made != 1 {
		t.Errorf("the admin role was recorded made %d times, want once", made)
	}

	// A change that fails makes no role either: on a fresh tenant, the
	// grant to no one leaves no admin role and no record of one.
	fresh := t.TempDir()
	if r := run(t, nil, "", "user", "grant", "nobody", "admin", "--data", fresh); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("grant to nobody: %+v", r)
	}
	if r := must(t, run(t, nil, "", "role", "list", "--data", fresh)).stdout; strings.Contains(r, "admin") {
		t.Errorf("a failed grant left the admin role:\n%s", r)
	}

	// Added by name on a fresh tenant, it is the built-in role too, not
	// an ordinary one that merely shares the name.
	must(t, run(t, nil, "", "role", "add", "admin", "--data", fresh))
	if r := must(t, run(t, nil, "", "role", "list", "--data", fresh)).stdout; !strings.Contains(r, "built-in") {
		t.Errorf("role add admin made an ordinary role:\n%s", r)
	}
}
