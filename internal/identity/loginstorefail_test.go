package identity

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestLoginStoreFailureIsNotAWrongPassword: a sign-in with the right
// password that fails because the store refuses its writes (the disk is
// full) is told that signing in failed and to try again, as a 503, not
// "Invalid username or password." with a 200: told their password was
// wrong, a person tries it again and again or resets it, when only
// waiting helps, and a monitor sees no failure. Once the store takes
// writes again the same sign-in works.
func TestLoginStoreFailureIsNotAWrongPassword(t *testing.T) {
	h := newHarness(t)
	var fail atomic.Bool
	h.p.Store = identityFailing{h.p.Store, "count", &fail}
	fail.Store(true)
	resp := h.login(h.browser(), "alice", pw, nil)
	page := body(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(page, badLogin) || !strings.Contains(page, "try again") {
		t.Errorf("sign-in with the right password while the store fails: %d, want 503 saying to try again, not %q:\n%s", resp.StatusCode, badLogin, page)
	}
	for _, leak := range []string{"disk is full", "commit"} {
		if strings.Contains(page, leak) {
			t.Errorf("the page tells the store's error (%q)", leak)
		}
	}
	if e, ok := h.audit.last(audit.LoginFailed); !ok || e.Detail["reason"] != "error" {
		t.Errorf("the refused sign-in's record: %+v %v", e, ok)
	}
	fail.Store(false)
	resp = h.login(h.browser(), "alice", pw, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in once the store takes writes again: %d", resp.StatusCode)
	}
}
