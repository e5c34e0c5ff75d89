package identity

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestLoginFloodRecordedOnce: a flood of failed logins writes a
// login.failed record for each attempt up to the limit and one for the
// attempt that reaches it, then none; and an address past its limit
// writes no attempt counter for each username it tries.
func TestLoginFloodRecordedOnce(t *testing.T) {
	h := newHarness(t, behindProxy, func(p *Provider) { p.MaxFailuresPerUser, p.MaxFailuresPerIP = 3, 5 })
	attempt := func(from, user, pass string) {
		t.Helper()
		b := h.browser()
		resp, err := b.Get(h.url("/login"))
		if err != nil {
			t.Fatal(err)
		}
		f := url.Values{"username": {user}, "password": {pass}, "csrf": {csrfOf(t, body(t, resp))}}
		req, _ := http.NewRequest(http.MethodPost, h.url("/login"), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err = b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if html := body(t, resp); !(resp.StatusCode == http.StatusOK && strings.Contains(html, badLogin) ||
			resp.StatusCode == http.StatusTooManyRequests && strings.Contains(html, throttledLogin)) {
			t.Fatalf("%s from %s: %d", user, from, resp.StatusCode)
		}
	}
	failed := func() int { return countEvents(h, audit.LoginFailed) }
	id := h.db.Identity()

	// One address, a new username each time.
	for i := range 30 {
		attempt("198.51.100.1", "guess"+strconv.Itoa(i), "wrong")
	}
	if n := failed(); n != 6 {
		t.Errorf("%d login.failed records for 30 failures from one address, want 6 (5, then the throttling)", n)
	}
	if ev, _ := h.audit.last(audit.LoginFailed); ev.Detail["reason"] != "throttled" || ev.RemoteAddr != "198.51.100.1" || ev.Actor != "" {
		t.Errorf("last record %+v, want the attempt that reached the limit", ev)
	}
	for i := 6; i < 30; i++ {
		if n, err := id.Attempts(t.Context(), failuresKey("guess"+strconv.Itoa(i)), h.clock.Now()); err != nil || n != 0 {
			t.Errorf("an attempt refused for its address counted for user guess%d: %d, %v", i, n, err)
		}
	}

	// One user, from a new address each time.
	for i := range 30 {
		attempt("203.0.113."+strconv.Itoa(i+1), "alice", "wrong")
	}
	if n := failed() - 6; n != 4 {
		t.Errorf("%d login.failed records for 30 failures at one user, want 4 (3, then the throttling)", n)
	}

	// Malformed attempts count against the address like any other.
	for range 30 {
		attempt("192.0.2.7", "", "x")
	}
	if n := failed() - 10; n != 6 {
		t.Errorf("%d login.failed records for 30 malformed attempts, want 6", n)
	}
}
