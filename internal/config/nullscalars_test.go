package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTrueFalseAndNumbersWithNoValueAreRefused: a true/false or a number
// key left without a value ("disabled:" whose value was commented out, or
// ~) read as false or 0: a person the admin meant disabled was enabled
// (re-enabled, when the store had them disabled), and
// tool_calls_per_minute read as 0, no bound at all. Refused on its line.
func TestTrueFalseAndNumbersWithNoValueAreRefused(t *testing.T) {
	const flag = "has no value: write true or false (a key without one reads as false)"
	const number = "has no value: write a number (a key without one reads as 0)"
	_, err := parse(t, `tenant: acme
users:
  - username: mallory
    disabled: # until HR confirms
clients:
  - client_id: a
    kind: agent
    first_party: ~
audit:
  raw_arguments: null
limits:
  tool_calls_per_minute:
`)
	want := []string{
		"t.yaml:4: users[0].disabled: " + flag,
		"t.yaml:8: clients[0].first_party: " + flag,
		"t.yaml:10: audit.raw_arguments: " + flag,
		"t.yaml:12: limits.tool_calls_per_minute: " + number,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
