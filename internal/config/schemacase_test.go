package config_test

import (
	"strings"
	"testing"
)

// TestSchemaKeywordsAreCaseSensitive: a key that is a JSON Schema
// keyword but for its case ("Maximum") is refused wherever a schema is,
// naming it and the keyword, while names under properties and the values
// of enum or const may be spelt any way. Before, the schema library
// matched such a key to the keyword, the last one in the encoded schema
// winning: {maxLength: 3, maxlength: 300} let the gateway take 300
// characters, and {additionalProperties: false, additionalproperties:
// true} any argument, while the admin, and any other validator, read 3
// and none.
func TestSchemaKeywordsAreCaseSensitive(t *testing.T) {
	for _, schema := range []string{
		`{type: object, properties: {amount: {type: number, maximum: 50, Maximum: 1000000}}}`,
		`{type: object, properties: {note: {type: string, maxLength: 3, maxlength: 300}}}`,
		`{type: object, additionalProperties: false, additionalproperties: true}`,
		`{type: object, Properties: {amount: {type: number}}}`,
		`{type: object, properties: {amount: {anyOf: [{type: number, MAXIMUM: 5}]}}}`,
		`{type: object, properties: {list: {type: array, items: {type: string, maxLength: 3, MaxLength: 300}}}}`,
		`{type: object, additionalProperties: {Type: string}}`,
		"{type: object, properties: {amount: {type: number, \"exclu\u017fiveMaximum\": 5}}}", // ſ folds to s
	} {
		src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema: " + schema + "\n"
		_, err := parse(t, src)
		if err == nil || !strings.Contains(err.Error(), "tools[0].input_schema") || !strings.Contains(err.Error(), "case-sensitive") {
			t.Errorf("%s: %v, want it refused as a keyword in the wrong case", schema, err)
		}
	}
	for _, schema := range []string{
		`{type: object, properties: {Maximum: {type: number, maximum: 50}, Type: {type: string, enum: [Items]}}}`,
		`{type: object, properties: {kind: {const: {Type: a}}}, required: [Maximum], x-Note: {Maximum: 1}}`,
	} {
		src := "tenant: acme\ntools:\n  - name: t\n    builtin: sales_report\n    input_schema: " + schema + "\n"
		if _, err := parse(t, src); err != nil {
			t.Errorf("%s: %v, want it taken", schema, err)
		}
	}
}
