package identity

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
)

// TestSigningInInALoopIsBounded: a right password is forgiven (the
// person's failures reset, the attempt no longer counts against the
// address), so successful sign-ins have a bound of their own: past
// MaxSignInsPerUser in a window the person's sign-ins are refused as
// throttled without an argon2id check, only the first refusal is
// recorded, others sign in as before, and the window's end lifts it.
// Without it, one account's holder ran an argon2id check (tens of
// milliseconds of a CPU) per request, bounded only by the checks allowed
// at once: every CPU busy and everyone else's sign-in answered busy.
func TestSigningInInALoopIsBounded(t *testing.T) {
	const perUser, signIns = 3, 40
	h := newHarness(t, func(p *Provider) { p.MaxSignInsPerUser = perUser })
	before := password.Computed()
	ok := 0
	for range signIns {
		resp := h.login(h.browser(), "alice", pw, nil)
		body(t, resp)
		if resp.StatusCode == http.StatusSeeOther {
			ok++
		}
	}
	if checks := password.Computed() - before; checks != perUser || ok != perUser {
		t.Errorf("one person signing in %d times in a window: %d sign-ins, %d argon2id checks; want %d of each",
			signIns, ok, checks, perUser)
	}
	succeeded, throttled := 0, 0
	h.audit.mu.Lock()
	evs := append([]audit.Event(nil), h.audit.events...)
	h.audit.mu.Unlock()
	for _, ev := range evs {
		switch {
		case ev.Type == audit.LoginSucceeded:
			succeeded++
		case ev.Type == audit.LoginFailed && ev.Detail["reason"] == "throttled":
			throttled++
		}
	}
	if succeeded != perUser || throttled != 1 {
		t.Errorf("recorded %d sign-ins and %d throttled refusals, want %d and 1", succeeded, throttled, perUser)
	}
	if resp := h.login(h.browser(), "bob", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another person, same address: %d", resp.StatusCode)
	}
	h.clock.Advance(16 * time.Minute)
	if resp := h.login(h.browser(), "alice", pw, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
}
