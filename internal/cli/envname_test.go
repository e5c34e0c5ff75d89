package cli_test

import (
	"strings"
	"testing"
)

// TestUpstreamAddEnvNeverRepeated: upstream add holds --env to the tenant
// file's rule (upper-case letters, digits and _), and its refusal says
// which --env is wrong without repeating it: a secret pasted for a name
// would otherwise be printed back.
func TestUpstreamAddEnvNeverRepeated(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	for _, tc := range []struct{ given, want string }{
		{"ghp_S3cretValue", "--env (number 2 given): is not an environment variable name"},
		{"sk live S3cretValue", "--env (number 2 given): is not an environment variable name"},
		{"1BAD", "--env (number 2 given): is not an environment variable name"},
		{"gatehouse_master_key", "--env (number 2 given): is one of Gatehouse's own settings"},
	} {
		r := run(t, nil, "", append([]string{"upstream", "add", "git", "--command", "git-mcp", "--env", "PATH", "--env", tc.given}, d...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr+r.stdout, tc.given) || strings.Contains(r.stderr, "S3cret") {
			t.Errorf("--env %q: exit %d, stderr %q; want exit 1 and %q, without what was given", tc.given, r.code, r.stderr, tc.want)
		}
	}
	if r := run(t, nil, "", append([]string{"upstream", "list"}, d...)...); strings.Contains(r.stdout, "git") {
		t.Errorf("a refused upstream was stored:\n%s", r.stdout)
	}
	must(t, run(t, nil, "", append([]string{"upstream", "add", "git", "--command", "git-mcp", "--env", "GIT_TOKEN"}, d...)...))
}
