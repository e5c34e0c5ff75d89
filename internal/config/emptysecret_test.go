package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestEmptySecretIsRefused: a password or a secret key given without a
// value is a mistake, not "keep the stored one" (what leaving the key out
// means): Validate says so on its line, and Apply refuses it even when the
// caller skipped Validate, leaving the stored hash alone.
func TestEmptySecretIsRefused(t *testing.T) {
	const empty = "is empty: give one, or leave the key out (a stored one is then kept)"
	_, err := parse(t, `tenant: acme
users:
  - username: alice
    password:
  - username: bob
    password: ""
  - username: carol
    password_hash: ~
clients:
  - client_id: svc
    kind: web
    secret: ''
  - client_id: svc2
    kind: web
    secret_hash:
`)
	want := []string{
		"t.yaml:4: users[0].password: " + empty,
		"t.yaml:6: users[1].password: " + empty,
		"t.yaml:8: users[2].password_hash: " + empty,
		"t.yaml:12: clients[0].secret: " + empty,
		"t.yaml:15: clients[1].secret_hash: " + empty,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	apply := func(src string) error {
		t.Helper()
		f, err := config.Parse(strings.NewReader(src), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Apply(ctx, st, f, config.Argon2, nil)
		return err
	}
	mustNil(t, apply("tenant: acme\nusers:\n  - username: alice\n    password: the first password\n"))
	before, err := st.Users().Get(ctx, "alice")
	mustNil(t, err)
	err = apply("tenant: acme\nusers:\n  - username: alice\n    password: \"\"\n")
	if got := problems(t, err); !cmp.Equal(got, want[:1]) {
		t.Errorf("Apply of an empty password: %q, want %q", got, want[:1])
	}
	if after, _ := st.Users().Get(ctx, "alice"); after.PasswordHash != before.PasswordHash {
		t.Error("the refused apply changed the stored password")
	}
	// Left out, the password is kept, as before.
	mustNil(t, apply("tenant: acme\nusers:\n  - username: alice\n"))
	if after, _ := st.Users().Get(ctx, "alice"); after.PasswordHash != before.PasswordHash {
		t.Error("a password left out was not kept")
	}
}

// TestSecretWithLineBreakIsRefused: a password or client secret written
// as a YAML block keeps the block's last line feed, which nobody sends
// at a sign-in or in a header: refused on its line, with the fix, and
// never shown. Written on the key's line, or as a |- block, it is fine.
func TestSecretWithLineBreakIsRefused(t *testing.T) {
	const msg = "holds a line break (a | or > block keeps its last one: write the value on the key's line, or use |- )"
	_, err := parse(t, `tenant: acme
users:
  - username: alice
    password: |
      correct horse battery staple
clients:
  - client_id: svc
    kind: web
    secret: >
      a-long-client-secret-of-32-chars-x
  - client_id: svc2
    kind: web
    secret: |-
      a-long-client-secret-of-32-chars-y
`)
	want := []string{
		"t.yaml:4: users[0].password: " + msg,
		"t.yaml:9: clients[0].secret: " + msg,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	if err != nil && (strings.Contains(err.Error(), "staple") || strings.Contains(err.Error(), "32-chars")) {
		t.Errorf("the refusal shows the secret: %v", err)
	}
}

// TestTenantFileThatIsAFolder: a tenant file path naming a folder is
// refused once, with the path and the cause.
func TestTenantFileThatIsAFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := config.Load(dir, nil)
	if err == nil || err.Error() != "read "+dir+": is a directory" {
		t.Errorf("a folder as the tenant file: %v", err)
	}
}
