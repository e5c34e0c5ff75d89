package config_test

import (
	"strings"
	"testing"
)

// TestValidateRefusesACostlyHash: an imported argon2id hash with
// parameters above the ceiling the sign-in checks (password.MaxMemory,
// password.MaxWork) is a problem of the file, which names the person or
// client and the ceiling, never the hash. Applied, each sign-in as that
// person (anyone's, with any password) would have cost a gigabyte and
// seconds of CPU.
func TestValidateRefusesACostlyHash(t *testing.T) {
	_, err := parse(t, `tenant: acme
users:
  - username: alice
    password_hash: "$argon2id$v=19$m=1048576,t=32,p=1$c2FsdHNhbHRzYWx0$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI"
  - username: bob
    password_hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI"
clients:
  - client_id: billing
    kind: service
    secret_hash: "$argon2id$v=19$m=19456,t=100,p=1$c2FsdHNhbHRzYWx0$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI"
`)
	if err == nil {
		t.Fatal("a file with hashes above the ceiling was accepted")
	}
	ps := problems(t, err)
	got := strings.Join(ps, "\n")
	if len(ps) != 2 {
		t.Errorf("want 2 problems (alice's and billing's; bob's 64 MiB is within the ceiling), got:\n%s", got)
	}
	for _, want := range []string{
		`t.yaml:4: users[0].password_hash: user "alice": `,
		`t.yaml:10: clients[0].secret_hash: client "billing": `,
		"at most m=65536 KiB (64 MiB) and m×t=262144",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "c2FsdHNhbHRzYWx0") {
		t.Errorf("a problem repeats the hash:\n%s", got)
	}
}
