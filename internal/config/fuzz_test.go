package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/config"
)

// FuzzParse feeds arbitrary bytes to the tenant-file parser and validator:
// they may refuse, never panic. A file Parse accepts reads as the YAML
// decoder reads it (Parse walks the tree itself, leaving it the scalars).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/acme.yaml", "testdata/three-mistakes.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("tenant: [\n")
	f.Add("a: &x [*x]\n")
	f.Add(billionLaughs())
	f.Add(scalarsSeed)
	f.Fuzz(func(t *testing.T, src string) {
		file, err := config.Parse(strings.NewReader(src), "f.yaml")
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		var want config.File
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("Parse accepts what the decoder refuses: %v", err)
		}
		if diff := cmp.Diff(&want, file, cmpopts.IgnoreUnexported(config.File{})); diff != "" {
			t.Errorf("Parse reads other than the decoder (-decoder +Parse):\n%s", diff)
		}
		_ = file.Validate(builtins)
	})
}

// scalarsSeed holds values the decoder converts: YAML 1.1 booleans,
// numbers in a string field, keys and values left empty, and an input
// schema of every kind of value, one of its mappings keyed by a number.
const scalarsSeed = `tenant: 42
users:
  - username: 0o17
    disabled: yes
    attributes: {a: , b: 1.50, c: true, "": x}
    roles: []
clients:
  - client_id: c
    tools: []
    first_party: Off
connections:
  - name: corp
    role_map: {eng: [a, 1], ops: []}
upstreams:
  - name: u
    env: []
limits: {tool_calls_per_minute: 0x1F}
audit: {}
tools:
  - name: t
    input_schema:
      type: object
      properties: {n: {type: integer, minimum: -1, maximum: 1e3, enum: [1, 2.5, null, "x", true, ~]}}
      required: []
      x-any: {1: one, ~: nothing, true: yes}
      x-null:
`
