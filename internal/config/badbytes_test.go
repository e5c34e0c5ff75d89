package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestBadBytesSayTheirLine: a byte that is not UTF-8 (a file saved as
// Latin-1) or a control character is refused with the line it is on, as
// every other problem is: in a long file, "invalid trailing UTF-8 octet"
// alone does not say where to look. The value is not repeated (it may be
// a password). A BOM and CRLF line ends are no problem.
func TestBadBytesSayTheirLine(t *testing.T) {
	head := "tenant: acme\r\nusers:\n  - username: alice\n"
	tests := []struct {
		name, src string
		want      []string
	}{
		{"Latin-1", head + "    password: p\xe4ssword-geheim\n", []string{"t.yaml:4: invalid trailing UTF-8 octet"}},
		{"Latin-1 at the end", head + "    password: geheim-p\xe4\n", []string{"t.yaml:4: incomplete UTF-8 octet sequence"}},
		{"escape", head + "    email: a\x1b@acme.example\n", []string{"t.yaml:4: control characters are not allowed"}},
		{"NUL after a BOM", "\xef\xbb\xbf" + head + "\n\n    email: a\x00b\n", []string{"t.yaml:6: control characters are not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tt.src), "t.yaml")
			if diff := cmp.Diff(tt.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := parse(t, "\xef\xbb\xbf"+head); err != nil {
		t.Errorf("a BOM and CRLF: %v", err)
	}
}
