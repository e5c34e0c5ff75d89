package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/server"
)

// TestIssuerPathRefusals: an issuer whose path the server cannot serve
// its endpoints under as announced is refused at start with a message,
// not a panic: an unclean path (an empty segment, a dot segment), which
// a router cleans and redirects away from; one with escaped characters
// (%2F), whose endpoints the router would look for unescaped; and one with
// a brace, which the router would take for a wildcard, serving the
// tenant under every name.
func TestIssuerPathRefusals(t *testing.T) {
	for _, issuer := range []string{"https://id.example//acme", "https://id.example/tenants/../acme",
		"https://id.example/tenants/./acme", "https://id.example/tenants/a%2Fb", "https://id.example/tenants/a%20b",
		"https://id.example/tenants/{tenant}"} {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			s, err := server.New(context.Background(), server.Options{Issuer: issuer,
				Store: server.StoreOptions{DataDir: t.TempDir()}}, "127.0.0.1:1")
			if err == nil {
				s.Close()
			}
			return err
		}()
		if err == nil || !strings.Contains(err.Error(), "--issuer") {
			t.Errorf("%s: %v, want refused", issuer, err)
		}
	}
	// A path of plain segments is taken, with or without a trailing slash.
	for _, issuer := range []string{"https://id.example/tenants/acme", "https://id.example/tenants/acme-2.eu_west~1/"} {
		s, err := server.New(context.Background(), server.Options{Issuer: issuer,
			Store: server.StoreOptions{DataDir: t.TempDir()}}, "127.0.0.1:1")
		if err != nil {
			t.Errorf("%s: %v", issuer, err)
			continue
		}
		s.Close()
	}
}
