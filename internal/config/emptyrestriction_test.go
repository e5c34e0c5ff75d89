package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEmptyRestrictionIsRefused: a key left without a value reads as
// absent, and for an agent's tools, a tool's condition and its input
// schema absent means no restriction at all (no cap, no condition, no
// schema). A list whose entries were all commented out must not open
// what it closed: such a key is refused on its line.
func TestEmptyRestrictionIsRefused(t *testing.T) {
	_, err := parse(t, `tenant: acme
roles:
  - name: support
clients:
  - client_id: bot
    kind: agent
    tools:
      # - refund
tools:
  - name: refund
    builtin: sales_report
    roles: [support]
    when:
    input_schema: ~
  - name: refund2
    builtin: sales_report
    roles: [support]
    when: ""
  - name: refund3
    builtin: sales_report
    roles: [support]
    when: |
# context.args.amount <= 50
`)
	const says = "has no value: give one, or leave the key out ("
	want := []string{
		"t.yaml:7: clients[0].tools: " + says + "tools left out means no restriction)",
		"t.yaml:13: tools[0].when: " + says + "when left out means no restriction)",
		"t.yaml:14: tools[0].input_schema: " + says + "input_schema left out means no restriction)",
		"t.yaml:18: tools[1].when: " + says + "when left out means no restriction)",
		"t.yaml:22: tools[2].when: " + says + "when left out means no restriction)",
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	// An empty list is a cap: this agent may call nothing.
	if _, err := parse(t, "tenant: acme\nclients:\n  - client_id: bot\n    kind: agent\n    tools: []\n"); err != nil {
		t.Errorf("tools: []: %v", err)
	}
}
