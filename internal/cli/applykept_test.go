package cli_test

import (
	"strings"
	"testing"
)

// TestApplyWithoutPruneSaysWhatItKeeps: a tenant file applied without
// --prune leaves the records it does not name in the store. The output
// says which, with the dry run and with the change, rather than that the
// store matches the file: an admin who deleted a person from the file
// would otherwise read that the person is gone, while they can still sign
// in.
func TestApplyWithoutPruneSaysWhatItKeeps(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return must(t, run(t, nil, "", append(args, "--data", data)...)) }
	c("apply", "-f", writeFile(t, `tenant: acme
roles: [{name: sales}, {name: old}]
users:
  - {username: alice, password: "alice's password", roles: [sales]}
  - {username: bob, password: "bob's password", roles: [sales]}
`))
	c("client", "add", "reporter", "--kind", "agent", "--redirect-uri", "http://127.0.0.1:9000/cb")
	without := writeFile(t, `tenant: acme
roles: [{name: sales}]
users:
  - {username: alice, password: "alice's password", roles: [sales]}
`)
	for _, args := range [][]string{{"apply", "--dry-run", "-f", without}, {"apply", "-f", without}} {
		out := c(args...).stdout
		if strings.Contains(out, "matches the file") {
			t.Errorf("%v says the store matches the file, though it keeps bob:\n%s", args, out)
		}
		for _, want := range []string{"--prune", "user bob", "role old", "client reporter"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v does not say %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "alice") {
			t.Errorf("%v names alice, whom the file names:\n%s", args, out)
		}
	}
	// Pruned, nothing is left to name; applied again, the file matches.
	c("apply", "--prune", "-f", without)
	if out := c("apply", "-f", without).stdout; !strings.Contains(out, "No changes: the store already matches the file.") {
		t.Errorf("after --prune:\n%s", out)
	}
}
