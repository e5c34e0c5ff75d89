package cli_test

import (
	"strings"
	"testing"
)

// TestUserAddRefusesWhatIsNotAnEmailAddress: 'user add --email' takes an
// address only (RFC 5322 addr-spec), as the tenant file does: the value
// becomes the email claim of ID tokens and UserInfo, which OpenID Connect
// Core §5.1 says is one. Nothing is added.
func TestUserAddRefusesWhatIsNotAnEmailAddress(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	for _, e := range []string{"not an address", "Bob <bob@acme.example>", "bob@acme.example\r\nBcc: x@y.example"} {
		r := run(t, nil, "", append([]string{"user", "add", "bob", "--email", e}, d...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "--email") {
			t.Errorf("%q: exit %d, stderr %q", e, r.code, r.stderr)
		}
	}
	if l := must(t, run(t, nil, "", append([]string{"user", "list"}, d...)...)).stdout; strings.Contains(l, "bob") {
		t.Errorf("a refused user was added:\n%s", l)
	}
	must(t, run(t, nil, "", append([]string{"user", "add", "bob", "--email", "bob@acme.example"}, d...)...))
}
