package identity

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/password"
)

// TestUnknownUserCostsOneCheck: a sign-in as an unknown user runs one
// argon2id computation, as a known user's does, from the first one on:
// the hash it is checked against is made when the provider is mounted.
// (Run alone, this fails on a provider that makes it on the first unknown
// sign-in, which then took twice as long and told that the name is
// unknown; in a run of the whole package an earlier test may have made
// it already.)
func TestUnknownUserCostsOneCheck(t *testing.T) {
	h := newHarness(t)
	for _, user := range []string{"nobody", "alice"} {
		before := password.Computed()
		body(t, h.login(h.browser(), user, "wrong password", nil))
		if n := password.Computed() - before; n != 1 {
			t.Errorf("a sign-in as %s ran %d argon2id computations, want 1", user, n)
		}
	}
}
