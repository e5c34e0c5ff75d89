package config_test

import (
	"strings"
	"testing"
)

// TestHeaderNamesDifferingInCase: HTTP header names are case-insensitive,
// so two headers_env keys that differ only in case name one header, and
// which variable's value the gateway would send is left to chance: the
// tenant file is refused, saying where.
func TestHeaderNamesDifferingInCase(t *testing.T) {
	src := "tenant: acme\nupstreams:\n  - name: files\n    url: https://files.example/mcp\n    headers_env:\n      Authorization: FILES_AUTH\n      authorization: OTHER_AUTH\n"
	_, err := parse(t, src)
	if err == nil {
		t.Fatalf("accepted:\n%s", src)
	}
	if msg := err.Error(); !strings.Contains(msg, "upstreams[0].headers_env.authorization") || !strings.Contains(msg, "Authorization") {
		t.Errorf("the error does not say which header is twice:\n%s", msg)
	}
}
