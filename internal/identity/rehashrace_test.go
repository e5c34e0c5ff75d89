package identity

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSignInsRacingARehashBothSucceed: two sign-ins of a person whose
// hash was imported with other parameters, with the right password, at
// once (a second tab, a double click). The first to finish makes the
// hash again (TestSignInRehashesAnImportedHash); the other, which checked
// the password against the imported hash, finds the hash changed. It is
// a hash of the same password: that sign-in succeeds too, and is not
// told its password is wrong.
func TestSignInsRacingARehashBothSucceed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	imported, err := password.HashWith(pw, password.Params{Memory: 256, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Users().Create(ctx, store.User{Username: "dave", PasswordHash: imported}); err != nil {
		t.Fatal(err)
	}
	hook := hooked(h)
	// The other sign-in runs, to its end, right after this one has read
	// dave with the imported hash.
	var other int
	hook.mu.Lock()
	hook.after = func() {
		resp := h.login(h.browser(), "dave", pw, nil)
		body(t, resp)
		other = resp.StatusCode
	}
	hook.mu.Unlock()
	resp := h.login(h.browser(), "dave", pw, nil)
	page := body(t, resp)
	if other != http.StatusSeeOther {
		t.Fatalf("the other sign-in: %d, want 303", other)
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the sign-in that read the imported hash: %d, want 303 (page: %.200q)", resp.StatusCode, page)
	}
	if u, err := h.db.Users().Get(ctx, "dave"); err != nil || u.PasswordHash == imported {
		t.Errorf("dave's hash was not made again (%v)", err)
	}
}
