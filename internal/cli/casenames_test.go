package cli_test

import (
	"strings"
	"testing"
)

// TestAddRefusesNamesDifferingOnlyInCase: 'user add', 'client add' and
// 'tool add' refuse a name that differs only in case from one the tenant
// holds (made by a tenant file here), as the tenant file refuses two such
// names within itself, naming the stored spelling; a person and a client
// cannot share a name but for case either. Nothing is added.
func TestAddRefusesNamesDifferingOnlyInCase(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	list := func() string {
		var b strings.Builder
		for _, k := range []string{"user", "client", "tool"} {
			b.WriteString(must(t, run(t, nil, "", k, "list", "--data", data)).stdout)
		}
		return b.String()
	}
	before := list()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "Alice"}, `user "Alice" differs only in case from user "alice"`},
		{[]string{"client", "add", "Acme-Assistant"}, `client "Acme-Assistant" differs only in case from client "acme-assistant"`},
		{[]string{"tool", "add", "Refund", "--builtin", "sales_report"}, `tool "Refund" differs only in case from tool "refund"`},
		{[]string{"client", "add", "ALICE"}, `"ALICE" is the user "alice" but for case: a person and a client cannot share a name`},
		{[]string{"user", "add", "Billing-API"}, `"Billing-API" is the client "billing-api" but for case: a person and a client cannot share a name`},
	} {
		r := run(t, nil, "", append(tc.args, "--data", data)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if after := list(); after != before {
		t.Errorf("a refused add changed the tenant:\n%s\n→\n%s", before, after)
	}
	// A name of its own is still added.
	must(t, run(t, nil, "", "user", "add", "alicia", "--data", data))
}
