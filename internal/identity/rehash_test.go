package identity

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSignInRehashesAnImportedHash: a person whose hash was made with
// other parameters than the provider's (imported from another system,
// dearer or cheaper than its own) has it made again with the provider's
// at their first sign-in with the right password. Until then each check
// of their name costs other than an unknown name's (checked against a
// hash made with the provider's parameters), which tells by timing that
// they exist; from then on, the same. A wrong password changes nothing.
func TestSignInRehashesAnImportedHash(t *testing.T) {
	for name, params := range map[string]password.Params{
		"dearer":  {Memory: 256, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32},
		"cheaper": {Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			imported, err := password.HashWith(pw, params)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.db.Users().Create(ctx, store.User{Username: "dave", PasswordHash: imported}); err != nil {
				t.Fatal(err)
			}
			stored := func() string { return h.storedHash(t, "dave") }

			body(t, h.login(h.browser(), "dave", "wrong password", nil))
			if stored() != imported {
				t.Fatal("a wrong password changed the stored hash")
			}

			resp := h.login(h.browser(), "dave", pw, nil)
			if body(t, resp); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in with the imported hash: %d", resp.StatusCode)
			}
			now := stored()
			if got, err := password.ParseParams(now); err != nil || got != cheap {
				t.Fatalf("after the sign-in the hash has parameters %+v (%v), want the provider's %+v", got, err, cheap)
			}
			if ok, err := password.Verify(pw, now); !ok || err != nil {
				t.Fatalf("the new hash does not verify the password: %v, %v", ok, err)
			}

			// The next sign-in is one check, like anyone's, and keeps the hash.
			before := password.Computed()
			resp = h.login(h.browser(), "dave", pw, nil)
			if body(t, resp); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("second sign-in: %d", resp.StatusCode)
			}
			if n := password.Computed() - before; n != 1 {
				t.Errorf("the second sign-in ran %d argon2id computations, want 1", n)
			}
			if stored() != now {
				t.Error("the second sign-in changed the hash again")
			}
		})
	}
}

// storedHash is the password hash stored for username.
func (h *harness) storedHash(t *testing.T, username string) string {
	t.Helper()
	u, err := h.db.Users().Get(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}
