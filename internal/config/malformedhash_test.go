package config_test

import (
	"strings"
	"testing"
)

// TestValidateRefusesAMalformedHash: a password_hash or secret_hash that
// starts like an argon2id hash but cannot be checked (cut short when it
// was copied, say) is a problem of the file. Applied, it locked the person
// out, and a service client could never authenticate, with no word said.
func TestValidateRefusesAMalformedHash(t *testing.T) {
	_, err := parse(t, `tenant: acme
users:
  - username: alice
    password_hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0"
clients:
  - client_id: billing
    kind: service
    secret_hash: "$argon2id$"
`)
	if err == nil {
		t.Fatal("a file with malformed hashes was accepted")
	}
	got := strings.Join(problems(t, err), "\n")
	for _, want := range []string{"t.yaml:4: users[0].password_hash:", "t.yaml:8: clients[0].secret_hash:"} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "c2FsdHNhbHRzYWx0") {
		t.Errorf("a problem repeats the hash:\n%s", got)
	}
}
