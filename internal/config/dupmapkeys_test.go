package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDuplicateMapKeysReportedOnce: a key given twice in a mapping of
// names (attributes, headers_env, role_map) or in a tool's input schema
// is refused on its line, once per key given again. The decoder compared
// every key with every other and reported every pair: a 30 KB file of one
// attribute repeated 3000 times made 4.5 million problems, a 266 MB
// message and 2 GB of memory, and a file a few times larger ran apply out
// of memory.
func TestDuplicateMapKeysReportedOnce(t *testing.T) {
	_, err := parse(t, `tenant: acme
roles: [{name: sales}]
users:
  - username: alice
    attributes: {dept: sales, dept: admin}
upstreams:
  - name: crm
    url: https://crm.example/mcp
    headers_env: {Authorization: CRM_A, Authorization: CRM_B}
connections:
  - name: corp
    issuer: https://corp.example
    client_id: x
    roles_claim: groups
    role_map:
      eng: [sales]
      eng: []
tools:
  - name: t
    builtin: sales_report
    input_schema:
      type: object
      properties: {n: {type: number, maximum: 50, maximum: 1000000}}
`)
	want := []string{
		"t.yaml:5: users[0].attributes.dept: appears twice",
		"t.yaml:9: upstreams[0].headers_env.Authorization: appears twice",
		"t.yaml:17: connections[0].role_map.eng: appears twice",
		"t.yaml:23: tools[0].input_schema.properties.n.maximum: appears twice",
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	const n = 300
	src := "tenant: acme\nusers:\n  - username: alice\n    attributes:\n" + strings.Repeat("      k: v\n", n)
	_, err = parse(t, src)
	if got := problems(t, err); len(got) != n-1 || got[0] != "t.yaml:6: users[0].attributes.k: appears twice" {
		t.Errorf("a key given %d times: %d problems, the first %q; want %d, each key given again once", n, len(got), got[0], n-1)
	}
}
