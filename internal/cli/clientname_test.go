package cli_test

import (
	"strings"
	"testing"
)

// TestClientAddRefusesHiddenCharacters: 'client add --name' refuses a name
// with a format character that would reorder the consent page (U+202E).
func TestClientAddRefusesHiddenCharacters(t *testing.T) {
	d := []string{"--data", t.TempDir()}
	r := run(t, nil, "", append([]string{"client", "add", "helper", "--redirect-uri", "http://127.0.0.1:9000/cb", "--name", "Acme \u202egnikcah"}, d...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "U+202E") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if l := must(t, run(t, nil, "", append([]string{"client", "list"}, d...)...)).stdout; strings.Contains(l, "helper") {
		t.Errorf("the client was added:\n%s", l)
	}
	must(t, run(t, nil, "", append([]string{"client", "add", "helper", "--redirect-uri", "http://127.0.0.1:9000/cb", "--name", "Café Helper"}, d...)...))
}
