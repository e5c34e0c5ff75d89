package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNullEntriesAreRefused: the decoder dropped a list entry with no
// value (a "-" whose entry was commented out, or ~) and a mapping key
// that reads as null (~, null) without a word: an upstream's command lost
// an argument, and a role_map entry for a group named null mapped nothing.
// Each is refused on its line.
func TestNullEntriesAreRefused(t *testing.T) {
	const entry = "has no value: give one, or remove the entry"
	const key = "the key reads as null, not as a name: quote it (\"null\") if it is one"
	_, err := parse(t, `tenant: acme
roles: [{name: sales}]
users:
  - username: alice
    roles:
      - # sales
  -
upstreams:
  - name: files
    command: [mcp-files, ~, /srv/files]
connections:
  - name: corp
    issuer: https://corp.example
    client_id: x
    roles_claim: groups
    role_map: {null: [sales]}
`)
	want := []string{
		"t.yaml:6: users[0].roles[0]: " + entry,
		"t.yaml:7: users[1]: " + entry,
		"t.yaml:10: upstreams[0].command[1]: " + entry,
		"t.yaml:16: connections[0].role_map.null: " + key,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	f, err := parse(t, `tenant: acme
roles: [{name: sales}]
connections:
  - name: corp
    issuer: https://corp.example
    client_id: x
    roles_claim: groups
    role_map: {"null": [sales]}
`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"null": {"sales"}}, f.Connections[0].RoleMap); diff != "" {
		t.Errorf("a quoted null key (-want +got):\n%s", diff)
	}
}
