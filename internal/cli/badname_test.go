package cli_test

import (
	"strings"
	"testing"
)

// TestBadNamesSayWhatIsAllowed: a name the store does not take is refused
// with what a name of its kind may hold, as the tenant file's check says
// it, so that the admin can fix it ("Sales" for a role: lower-case only),
// not only that it is "not a valid role name". Nothing is added.
func TestBadNamesSayWhatIsAllowed(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"role", "add", "Sales"}, `"Sales" is not a valid role name: lower-case letters, digits`},
		{[]string{"upstream", "add", "CRM", "--command", "crm-server"}, `"CRM" is not a valid upstream name: lower-case letters, digits`},
		{[]string{"user", "add", "carol smith"}, `"carol smith" is not a valid username: letters, digits`},
		{[]string{"client", "add", "my/agent"}, `"my/agent" is not a valid client ID: letters, digits`},
		{[]string{"tool", "add", "sales report", "--builtin", "sales_report"}, `"sales report" is not a valid tool name: letters, digits`},
	} {
		r := run(t, nil, "", append(c.args, d...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %q", c.args, r.code, r.stderr, c.want)
		}
	}
	for _, l := range []string{"role", "upstream", "user", "client", "tool"} {
		out := must(t, run(t, nil, "", append([]string{l, "list"}, d...)...)).stdout
		for _, bad := range []string{"Sales", "CRM", "carol", "my/agent", "sales report"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s list has the refused %q:\n%s", l, bad, out)
			}
		}
	}
}
