package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNamesDifferingOnlyInCase: two users, clients, tools or connections
// of a file whose names differ only in case ("alice" and "Alice") are
// refused, as is a client named as a user but for case: the CLI's lists
// and the audit trail would show two principals an admin reads as one,
// a person signing in as "Alice" would be another than "alice", and an
// agent would be offered "send_email" and "Send_Email", granted apart.
// Before, each was taken as a name of its own.
func TestNamesDifferingOnlyInCase(t *testing.T) {
	src := `tenant: acme
users:
  - username: alice
  - username: Alice
  - username: bob
clients:
  - {client_id: agent, kind: agent}
  - {client_id: AGENT, kind: agent}
  - {client_id: Bob, kind: agent}
tools:
  - {name: send_email, builtin: sales_report}
  - {name: Send_Email, builtin: sales_report}
connections:
  - {name: okta, issuer: "https://idp.example", client_id: x}
  - {name: Okta, issuer: "https://idp.example", client_id: y}
`
	want := []string{
		`t.yaml:4: users[1].username: user "Alice" differs from "alice" (line 3) only in case: rename one (names differing only in case read as one name)`,
		`t.yaml:8: clients[1].client_id: client "AGENT" differs from "agent" (line 7) only in case: rename one (names differing only in case read as one name)`,
		`t.yaml:9: clients[2].client_id: "Bob" is also a user (line 5) but for case: a person and a client cannot share a name`,
		`t.yaml:12: tools[1].name: tool "Send_Email" differs from "send_email" (line 11) only in case: rename one (names differing only in case read as one name)`,
		`t.yaml:15: connections[1].name: connection "Okta" differs from "okta" (line 14) only in case: rename one (names differing only in case read as one name)`,
	}
	_, err := parse(t, src)
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The same name twice is still said as such.
	_, err = parse(t, "tenant: acme\nusers:\n  - username: alice\n  - username: alice\n")
	want = []string{`t.yaml:4: users[1].username: user "alice" is defined twice (first on line 3)`}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
