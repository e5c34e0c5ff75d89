package identity

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/password"
)

// TestApplyKeepsASignInsRehash: a tenant file gives a person's hash, made
// by another system with other parameters; their sign-in makes it again
// with the provider's (TestSignInRehashesAnImportedHash). Applying the
// same file again is no change: it neither puts the imported hash back
// (the next sign-in would make it again, and so on at every apply) nor
// takes the new one for a new password, which ends the person's
// sessions and grants. A different hash in the file is a new password,
// as before.
func TestApplyKeepsASignInsRehash(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	dearer := password.Params{Memory: 256, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}
	apply := func(hash string, more ...string) config.Plan {
		t.Helper()
		f, err := config.Parse(strings.NewReader(fmt.Sprintf(`tenant: acme
users:
  - username: dave
    password_hash: %q
`, hash)+strings.Join(more, "")), "t.yaml")
		if err == nil {
			err = f.Validate(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		plan, err := config.Apply(ctx, h.db, f, config.Argon2, nil)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	stored := func() string { return h.storedHash(t, "dave") }
	signedIn := func(b *http.Client) bool {
		t.Helper()
		resp, err := b.Get(h.url(pathSignedIn))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(body(t, resp), "dave") && resp.StatusCode == http.StatusOK
	}

	imported, err := password.HashWith(pw, dearer)
	if err != nil {
		t.Fatal(err)
	}
	if plan := apply(imported); !strings.Contains(fmt.Sprint(plan), "+ user dave") {
		t.Fatalf("first apply: %v", plan)
	}
	b := h.browser()
	if resp := h.login(b, "dave", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	rehashed := stored()
	if rehashed == imported {
		t.Fatal("the sign-in did not make the imported hash again")
	}

	stamp := func() string {
		u, err := h.db.Users().Get(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		return userStamp(u)
	}
	kept := stamp()
	if plan := apply(imported); len(plan) != 0 {
		t.Errorf("the same file applied again changed %v", plan)
	}
	// Nor does a change of something else of the person's change the
	// stamp their device cookies carry.
	if plan := apply(imported, "    email: dave@example.com\n"); len(plan) != 1 {
		t.Errorf("a new email applied: %v", plan)
	}
	if stamp() != kept {
		t.Error("the apply changed the stamp the person's device cookies carry")
	}
	if stored() != rehashed {
		t.Error("the apply put the imported hash back")
	}
	if !signedIn(b) {
		t.Error("the apply signed the person out")
	}

	// A new hash in the file is a new password: stored, and the old
	// password's sessions end.
	other, err := password.HashWith("a new password", dearer)
	if err != nil {
		t.Fatal(err)
	}
	plan := apply(other, "    email: dave@example.com\n")
	if len(plan) != 1 || !strings.HasPrefix(plan[0].String(), "~ user dave (password") {
		t.Fatalf("apply of a new hash: %v", plan)
	}
	if stored() != other {
		t.Error("the new hash was not stored")
	}
	if signedIn(b) {
		t.Error("the new password left the old one's session")
	}
	// And back to the first: a change too, though it was imported once.
	if plan := apply(imported); len(plan) != 1 || stored() != imported {
		t.Errorf("apply of the first hash again: %v", plan)
	}
}
