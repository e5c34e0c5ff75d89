package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// billionLaughs is a tenant file whose input_schema, nine aliases to nine
// aliases deep, expands to 9⁹ values.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema:\n      type: object\n")
	b.WriteString("      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		refs := strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9)
		fmt.Fprintf(&b, "      a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(refs, ", "))
	}
	return b.String()
}

// TestParseRefusesAnchorsAndAliases: a tenant file has no anchors or
// aliases, so a file built to expand them (billion laughs) is refused
// before any alias is followed, and the refusal says where.
func TestParseRefusesAnchorsAndAliases(t *testing.T) {
	const anchor = "YAML anchors (&name) are not supported: remove it (quote a value that starts with &)"
	const alias = "YAML aliases (*name) are not supported: write the value out (quote a value that starts with *)"
	many := "tenant: acme\nroles:\n  - &r {name: r}\n" + strings.Repeat("  - *r\n", 50)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"billion laughs", billionLaughs(), []string{
			"t.yaml:7: tools[0].input_schema.a0: " + anchor,
			"t.yaml:8: tools[0].input_schema.a1: " + anchor,
			"t.yaml:8: tools[0].input_schema.a1[0]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[1]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[2]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[3]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[4]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[5]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[6]: " + alias,
			"t.yaml:8: tools[0].input_schema.a1[7]: " + alias,
		}},
		{"an alias where the fields are checked", `tenant: acme
roles: [{name: sales}]
users:
  - username: alice
    roles: &staff [sales]
  - username: bob
    roles: *staff
`, []string{"t.yaml:5: users[0].roles: " + anchor, "t.yaml:7: users[1].roles: " + alias}},
		{"a merge key", `tenant: acme
clients:
  - &agent {client_id: a, kind: agent}
  - <<: *agent
    client_id: b
`, []string{"t.yaml:3: clients[0]: " + anchor, "t.yaml:4: clients[1].<<: " + alias}},
		{"an alias to no anchor", "tenant: acme\nusers:\n  - username: alice\n    password: *Tr0ub4dor\n",
			[]string{"t.yaml:4: " + alias}},
		{"at most ten reported", many, []string{
			"t.yaml:3: roles[0]: " + anchor,
			"t.yaml:4: roles[1]: " + alias, "t.yaml:5: roles[2]: " + alias, "t.yaml:6: roles[3]: " + alias,
			"t.yaml:7: roles[4]: " + alias, "t.yaml:8: roles[5]: " + alias, "t.yaml:9: roles[6]: " + alias,
			"t.yaml:10: roles[7]: " + alias, "t.yaml:11: roles[8]: " + alias, "t.yaml:12: roles[9]: " + alias,
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

// TestParseRefusesTags: an explicit tag changes what a value decodes to
// (`password: !Foo` decoded to an empty password, which apply read as
// "keep the stored one"): every one is refused, on its line.
func TestParseRefusesTags(t *testing.T) {
	const tag = "YAML tags (!name, !!type) are not supported: remove it (quote a value that starts with !)"
	src := `tenant: acme
users:
  - username: !!str alice
    password: !Foo
  - username: bob
    password: !!binary c2VjcmV0IHBhc3N3b3Jk
    disabled: !!bool false
clients:
  - client_id: svc
    kind: service
    secret: !!int 12345678901234567890123456789012345
    tools: !!seq []
`
	want := []string{
		"t.yaml:3: users[0].username: " + tag,
		"t.yaml:4: users[0].password: " + tag,
		"t.yaml:6: users[1].password: " + tag,
		"t.yaml:7: users[1].disabled: " + tag,
		"t.yaml:11: clients[0].secret: " + tag,
		"t.yaml:12: clients[0].tools: " + tag,
	}
	_, err := config.Parse(strings.NewReader(src), "t.yaml")
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestParseRefusesMergeKeys: a merge key (<<) is refused wherever it is,
// on its line. Without aliases it says nothing the keys written out would
// not; in a tool's input schema it was read, and in a mapping of names
// refused without a line ("map merge requires map or sequence of maps").
func TestParseRefusesMergeKeys(t *testing.T) {
	const merge = "YAML merge keys (<<) are not supported: write the keys out (quote a key named <<)"
	src := `tenant: acme
users:
  - username: alice
    attributes: {<<: emea, "<<": quoted}
tools:
  - name: t
    builtin: sales_report
    input_schema:
      <<: {type: object}
      properties: {n: {<<: {type: number}}}
`
	want := []string{
		"t.yaml:4: users[0].attributes.<<: " + merge,
		"t.yaml:9: tools[0].input_schema.<<: " + merge,
		"t.yaml:10: tools[0].input_schema.properties.n.<<: " + merge,
	}
	_, err := config.Parse(strings.NewReader(src), "t.yaml")
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
