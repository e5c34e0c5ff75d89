package cli_test

import (
	"strings"
	"testing"
)

// TestApplyRefusesAUserNamedLikeAStoredClient: a person and a client
// cannot share a name: 'user add' and 'client add' refuse it, the tenant
// file within itself, and apply against what the store keeps besides the
// file. Nothing of the refused file is applied.
func TestApplyRefusesAUserNamedLikeAStoredClient(t *testing.T) {
	data := t.TempDir()
	must(t, run(t, nil, "", "apply", "-f", testdata+"acme.yaml", "--data", data))
	must(t, run(t, nil, "0123456789012345678901234567890123456789\n", "client", "add", "alice2", "--kind", "service", "--secret-stdin", "--data", data))
	f := tenantFile(t, "", "username: alice", "username: alice2")
	r := run(t, nil, "", "apply", "-f", f, "--data", data)
	users := must(t, run(t, nil, "", "user", "list", "--data", data)).stdout
	if r.code == 0 || !strings.Contains(r.stderr, "cannot share a name") || strings.Contains(users, "alice2") {
		t.Errorf("apply of a user named like the stored client alice2: exit %d, stderr %q; users now:\n%s", r.code, r.stderr, users)
	}
}

// TestEnvironmentErrorsDoNotEchoValues: a GATEHOUSE_<FLAG> variable that
// does not parse is named, its value not shown: the flags named like
// secrets (GATEHOUSE_PASSWORD_STDIN, GATEHOUSE_SECRET_STDIN) invite
// putting the secret there, and the error would write it to stderr.
func TestEnvironmentErrorsDoNotEchoValues(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		env  string
		args []string
	}{
		{"GATEHOUSE_PASSWORD_STDIN", []string{"user", "add", "bob"}},
		{"GATEHOUSE_SECRET_STDIN", []string{"client", "add", "svc", "--kind", "service"}},
	} {
		r := run(t, map[string]string{tc.env: "hunter2-Secret-Value"}, "", append(tc.args, "--data", data)...)
		if r.code == 0 || strings.Contains(r.stderr, "hunter2-Secret-Value") || !strings.Contains(r.stderr, tc.env) {
			t.Errorf("%s set to a secret: exit %d, stderr %q", tc.env, r.code, strings.TrimSpace(r.stderr))
		}
	}
}
