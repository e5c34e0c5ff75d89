package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestDuplicateKeysAtEveryDepth: a key given twice is refused on the line
// of its second use, named by its path, at every depth of the file (the
// top, an entry's fields, a mapping of names, a tool's input schema and
// a mapping nested in it), in a YAML file and a JSON one alike; the same
// key in two different mappings is no repetition.
func TestDuplicateKeysAtEveryDepth(t *testing.T) {
	yamlSrc := `tenant: acme
roles: [{name: sales}]
users:
  - username: alice
    email: a@acme.example
    attributes: {dept: sales, dept: ops}
  - username: bob
    username: bobby
    attributes: {dept: sales}
tools:
  - name: t
    builtin: sales_report
    input_schema:
      type: object
      properties:
        n: {type: number, maximum: 5}
        m: {type: number, maximum: 5, maximum: 6}
      properties: {}
tenant: again
`
	jsonSrc := `{
  "tenant": "acme",
  "roles": [{"name": "sales"}],
  "users": [
    {"username": "alice", "email": "a@acme.example",
     "attributes": {"dept": "sales", "dept": "ops"}},
    {"username": "bob",
     "username": "bobby", "attributes": {"dept": "sales"}}
  ],
  "tools": [
    {"name": "t", "builtin": "sales_report", "input_schema": {
      "type": "object",
      "properties": {
        "n": {"type": "number", "maximum": 5},
        "m": {"type": "number", "maximum": 5, "maximum": 6}},
      "properties": {}}}
  ],
  "tenant": "again"
}
`
	tests := []struct {
		name, src string
		want      []string
	}{
		{"YAML", yamlSrc, []string{
			"t.yaml:6: users[0].attributes.dept: appears twice",
			"t.yaml:8: users[1].username: appears twice",
			"t.yaml:17: tools[0].input_schema.properties.m.maximum: appears twice",
			"t.yaml:18: tools[0].input_schema.properties: appears twice",
			"t.yaml:19: tenant: appears twice",
		}},
		{"JSON", jsonSrc, []string{
			"t.yaml:6: users[0].attributes.dept: appears twice",
			"t.yaml:8: users[1].username: appears twice",
			"t.yaml:15: tools[0].input_schema.properties.m.maximum: appears twice",
			"t.yaml:16: tools[0].input_schema.properties: appears twice",
			"t.yaml:18: tenant: appears twice",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tt.src), "t.yaml")
			if diff := cmp.Diff(tt.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
