package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSchemaDatesAreNotReadAsTimestamps: in a tool's input schema, the
// decoder read an unquoted date (2024-01-01) as a timestamp, and the
// schema the gateway enforced said "2024-01-01T00:00:00Z": an enum of
// dates then refused every date an agent sent as written, and a not:
// {enum: [...]} let it through. Refused on its line, asking for quotes; a
// quoted date stays as written.
func TestSchemaDatesAreNotReadAsTimestamps(t *testing.T) {
	const msg = "a date or time would be read as a timestamp (2024-01-01 as 2024-01-01T00:00:00Z): quote it"
	_, err := parse(t, `tenant: acme
tools:
  - name: t
    builtin: sales_report
    input_schema:
      type: object
      properties:
        day: {type: string, enum: [2024-01-01, "2024-01-02"]}
        at: {type: string, default: 2001-12-14t21:59:43.10-05:00}
        not_on: {not: {const: 2024-12-25}}
`)
	want := []string{
		"t.yaml:8: tools[0].input_schema.properties.day.enum[0]: " + msg,
		"t.yaml:9: tools[0].input_schema.properties.at.default: " + msg,
		"t.yaml:10: tools[0].input_schema.properties.not_on.not.const: " + msg,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	f, err := parse(t, `tenant: acme
tools:
  - name: t
    builtin: sales_report
    input_schema: {type: object, properties: {day: {type: string, enum: ["2024-01-01"]}}}
`)
	if err != nil {
		t.Fatal(err)
	}
	day := f.Tools[0].InputSchema["properties"].(map[string]any)["day"].(map[string]any)
	if diff := cmp.Diff([]any{"2024-01-01"}, day["enum"]); diff != "" {
		t.Errorf("a quoted date (-want +got):\n%s", diff)
	}
}
