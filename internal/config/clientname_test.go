package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClientNameHiddenCharacters: a tenant file's client name is shown on
// the login and consent pages: a format character that reorders what
// people read (U+202E) is refused there too.
func TestClientNameHiddenCharacters(t *testing.T) {
	_, err := parse(t, "tenant: acme\nclients:\n  - client_id: app\n    name: \"Acme \\u202Egnikcah\"\n    kind: agent\n    redirect_uris: [\"http://127.0.0.1:9000/cb\"]\n")
	want := []string{"t.yaml:4: clients[0].name: holds the control or format character U+202E"}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parse(t, "tenant: acme\nclients:\n  - client_id: app\n    name: \"Café Assistant\"\n    kind: agent\n    redirect_uris: [\"http://127.0.0.1:9000/cb\"]\n"); err != nil {
		t.Errorf("a plain name: %v", err)
	}
}
