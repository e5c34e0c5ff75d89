package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDisplayNamesOnTheLoginPage: a connection's display_name labels its
// button on the login page ("Sign in with …"), as a client's name labels
// the consent page: a character that reorders what people read (U+202E),
// one that shows as nothing (U+200B), or a label of no visible character
// is refused there as it is in a client's name, and both are bounded to
// 200 bytes, as a registered client's name is. Before, a connection's
// display_name was not checked at all, and a client's name of any length
// was taken.
func TestDisplayNamesOnTheLoginPage(t *testing.T) {
	conn := func(label string) string {
		return "tenant: acme\nconnections:\n  - name: corp\n    display_name: \"" + label + "\"\n    issuer: https://idp.example\n    client_id: x\n"
	}
	client := func(name string) string {
		return "tenant: acme\nclients:\n  - client_id: app\n    name: \"" + name + "\"\n    kind: agent\n"
	}
	long := strings.Repeat("a", 201)
	for _, tt := range []struct{ src, want string }{
		{conn("Okta \\u202Eatko"), "t.yaml:4: connections[0].display_name: holds the control or format character U+202E"},
		{conn("Ok\\u200Bta"), "t.yaml:4: connections[0].display_name: holds the control or format character U+200B"},
		{conn("\\u3164"), "t.yaml:4: connections[0].display_name: holds the invisible (default-ignorable) character U+3164"},
		{conn(long), "t.yaml:4: connections[0].display_name: is longer than 200 bytes"},
		{client(long), "t.yaml:4: clients[0].name: is longer than 200 bytes"},
	} {
		_, err := parse(t, tt.src)
		if diff := cmp.Diff([]string{tt.want}, problems(t, err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	for _, ok := range []string{conn("Anmeldung über Entra"), conn(strings.Repeat("a", 200)), client(strings.Repeat("é", 100))} {
		if _, err := parse(t, ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
