package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWrongTypesNameTheKey: a value of the wrong type for a true/false
// field, or a single value where role_map wants a list, is refused with
// its path, as every other wrong type is, and without repeating the
// value, which may be a secret put on the wrong line (the decoder's own
// message showed its first seven characters and no key). A YAML 1.1
// boolean (yes, no, on, off) still reads as one.
func TestWrongTypesNameTheKey(t *testing.T) {
	_, err := parse(t, `tenant: acme
roles: [{name: m}]
users:
  - {username: a, disabled: 1}
clients:
  - client_id: svc
    kind: service
    first_party: hunter2-not-a-bool
    disabled: "false"
connections:
  - name: corp
    issuer: https://corp.example
    client_id: x
    roles_claim: groups
    role_map: {sales: m, hr: [m, [m]]}
`)
	want := []string{
		"t.yaml:4: users[0].disabled: must be true or false, unquoted",
		"t.yaml:8: clients[0].first_party: must be true or false, unquoted",
		"t.yaml:9: clients[0].disabled: must be true or false, unquoted",
		"t.yaml:15: connections[0].role_map.sales: must be a list",
		"t.yaml:15: connections[0].role_map.hr[1]: must be a single value",
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	f, err := parse(t, "tenant: acme\nusers:\n  - {username: a, disabled: yes}\n  - {username: b, disabled: off}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Users[0].Disabled || f.Users[1].Disabled {
		t.Errorf("yes and off read as %v and %v", f.Users[0].Disabled, f.Users[1].Disabled)
	}
}
