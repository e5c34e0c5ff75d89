package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// connectionsTenant is a tenant whose connection corp gives the role
// sales by default and for two groups (one of which maps to x too), and
// whose connection other does not give it.
const connectionsTenant = `tenant: acme
roles: [{name: sales}, {name: staff}, {name: x}]
connections:
  - name: corp
    issuer: https://corp.example
    client_id: gatehouse
    client_secret_env: CORP_SECRET
    roles_claim: groups
    role_map: {Sales: [sales], Mixed: [sales, x]}
    default_roles: [sales, staff]
  - name: other
    issuer: https://other.example
    client_id: gatehouse
    roles_claim: groups
    role_map: {Ops: [x]}
`

// withoutSales is connectionsTenant as written once sales is gone.
const withoutSales = `tenant: acme
roles: [{name: staff}, {name: x}]
connections:
  - name: corp
    issuer: https://corp.example
    client_id: gatehouse
    client_secret_env: CORP_SECRET
    roles_claim: groups
    role_map: {Mixed: [x]}
    default_roles: [staff]
  - name: other
    issuer: https://other.example
    client_id: gatehouse
    roles_claim: groups
    role_map: {Ops: [x]}
`

// TestRoleRemoveTakesTheRoleFromConnections: `role remove` takes the role
// from the federation connections that give it too (default_roles, and
// role_map, where a group that mapped to it alone maps to nothing any
// more), in the change that removes it: its output and its admin.change
// record name the connection, as they name the people and tools. The
// connections are then what a tenant file without the role says, so
// applying that file changes nothing; and a role created later under the
// name is given by no connection.
func TestRoleRemoveTakesTheRoleFromConnections(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("apply", "-f", writeFile(t, connectionsTenant))
	c("user", "add", "carol", "--role", "sales")
	if out := c("role", "remove", "sales").stdout; !strings.Contains(out, "- role sales (taken from user carol, connection corp)\n") {
		t.Errorf("role remove said %q", out)
	}
	d := lastChange(t, data, "role", "sales").Event.Detail
	if d.Op != "-" || !equalAny(d.Before["users"], "carol") || !equalAny(d.Before["connections"], "corp") {
		t.Errorf("role remove audited as %+v", d)
	}
	if out := c("apply", "-f", writeFile(t, withoutSales)).stdout; !strings.Contains(out, "No changes") {
		t.Errorf("a tenant file without the role, applied after role remove:\n%s", out)
	}
	c("role", "add", "sales")
	if out := c("apply", "-f", writeFile(t, withoutSales)).stdout; !strings.Contains(out, "No changes") {
		t.Errorf("after sales was created again, a file whose connections do not give it:\n%s", out)
	}
}

// TestApplyPruneRecordsTheConnectionsItTookARoleFrom: apply --prune
// takes a role it prunes from the connections as role remove does (the
// file's connections, which replace them, cannot name it), and the
// role's admin.change record names them as it names the people.
func TestApplyPruneRecordsTheConnectionsItTookARoleFrom(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("apply", "-f", writeFile(t, connectionsTenant))
	c("apply", "--prune", "-f", writeFile(t, withoutSales))
	d := lastChange(t, data, "role", "sales").Event.Detail
	if d.Op != "-" || d.After != nil || !equalAny(d.Before["connections"], "corp") {
		t.Errorf("the pruned role audited as %+v", d)
	}
	if out := c("apply", "-f", writeFile(t, withoutSales)).stdout; !strings.Contains(out, "No changes") {
		t.Errorf("the pruning file applied again:\n%s", out)
	}
}

// writeFile writes a tenant file to a temporary folder.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tenant.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
