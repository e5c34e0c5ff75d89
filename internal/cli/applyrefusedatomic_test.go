package cli_test

import (
	"strings"
	"testing"
)

// TestRefusedTenantFileChangesNothing: a tenant file that changes the
// settings, a password, a client secret and adds people, but holds one
// entry the store refuses at apply time (a person named as a client the
// CLI added) or one the file's checks refuse (a person given a hidden
// character in their e-mail address), changes nothing: applied again, the
// file that was applied before still matches the store. What apply
// prints of the refused file shows no password or secret, clear or hashed.
func TestRefusedTenantFileChangesNothing(t *testing.T) {
	data := t.TempDir()
	c := func(args ...string) result { return run(t, nil, "", append(args, "--data", data)...) }
	first := writeFile(t, `tenant: acme
roles: [{name: sales}]
users:
  - {username: alice, password: "alice's first password", roles: [sales]}
clients:
  - {client_id: svc, kind: service, secret: "the first service secret 0123456789"}
audit: {retention: 90d}
limits: {tool_calls_per_minute: 60}
`)
	must(t, c("apply", "-f", first))
	must(t, c("client", "add", "reporter", "--kind", "agent", "--redirect-uri", "http://127.0.0.1:9000/cb"))
	second := func(extraUser string) string {
		return `tenant: acme
roles: [{name: sales}, {name: ops}]
users:
  - {username: alice, password: "alice's second password", roles: [sales]}
  - {username: bob, password: "bob's new password", roles: [ops]}
  - {username: carol, password_hash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"}
` + extraUser + `
clients:
  - {client_id: svc, kind: service, secret: "the second service secret 0123456789"}
  - {client_id: other, kind: agent}
tools: [{name: t, builtin: sales_report, roles: [ops]}]
audit: {retention: 30d}
limits: {tool_calls_per_minute: 5}
`
	}
	for name, src := range map[string]string{
		// A person named as the client the CLI added: refused in the
		// apply's transaction, after the settings and roles.
		"refused at apply":      second(`  - {username: reporter, password: "reporter's password"}`),
		"refused by its checks": second(`  - {username: dave, email: "dave\u202e@acme.example"}`),
	} {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"apply", "--dry-run", "-f"}, {"apply", "-f"}} {
				r := c(append(args, writeFile(t, src))...)
				if r.code == 0 {
					t.Fatalf("%v taken:\n%s", args, r.stdout)
				}
				out := r.stdout + r.stderr
				for _, secret := range []string{"second password", "new password", "second service secret", "c2FsdHNhbHRzYWx0", "aGFzaGhhc2hoYXNo", "$argon2id$"} {
					if strings.Contains(out, secret) {
						t.Errorf("%v shows %q:\n%s", args, secret, out)
					}
				}
			}
			if out := must(t, c("apply", "--dry-run", "-f", first)).stdout; !strings.HasPrefix(out, "No changes to what the file names.") {
				t.Errorf("after the refused file, the first one no longer matches the store:\n%s", out)
			}
		})
	}
}
