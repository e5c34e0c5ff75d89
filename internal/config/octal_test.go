package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLeadingZeroNumbersAreRefused: the decoder reads a whole number
// written with a leading zero as octal (0120 is 80), where YAML 1.2 and
// whoever wrote it read 120, and JSON has no such number. A bound of the
// file or of a tool's input schema would be silently another: refused on
// its line. A string stays as written (a secret 0123… is not a number),
// and an explicit 0o, 0x or a plain 0 is no ambiguity.
func TestLeadingZeroNumbersAreRefused(t *testing.T) {
	const msg = "a whole number with a leading zero would be read as octal (0120 as 80): write it without the zero (0o120 for octal)"
	_, err := parse(t, `tenant: acme
limits:
  tool_calls_per_minute: 0120
tools:
  - name: t
    builtin: sales_report
    input_schema:
      type: object
      properties:
        n: {type: integer, minimum: 0, maximum: 0500, multipleOf: -0_5}
        m: {type: array, items: {enum: [1, 010]}, maxItems: 0o10}
`)
	want := []string{
		"t.yaml:3: limits.tool_calls_per_minute: " + msg,
		"t.yaml:10: tools[0].input_schema.properties.n.maximum: " + msg,
		"t.yaml:10: tools[0].input_schema.properties.n.multipleOf: " + msg,
		"t.yaml:11: tools[0].input_schema.properties.m.items.enum[1]: " + msg,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	f, err := parse(t, `tenant: acme
clients:
  - client_id: svc
    kind: service
    secret: 01234567012345670123
limits:
  tool_calls_per_minute: 0
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Clients[0].Secret; got != "01234567012345670123" {
		t.Errorf("secret read as %q", got)
	}
}
