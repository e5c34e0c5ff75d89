package identity

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestThrottledLoginSaysSo: a sign-in refused because its username or its
// address is past the limit of failures is answered 429, with a message
// that says so and a Retry-After within the window. Before, it was the
// message of a wrong password (200): a person locked out by someone else's
// guesses was told their right password was wrong, and tried again and
// again, or reset it, when waiting was all they could do. The answer is the
// same for a username that exists and one that does not: the counters are
// kept by the name as given, before it is looked up.
func TestThrottledLoginSaysSo(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.MaxFailuresPerUser = 3; p.MaxFailuresPerIP = 100 })
	for _, user := range []string{"alice", "nobody"} {
		for range 3 {
			body(t, h.login(h.browser(), user, "wrong", nil))
		}
	}
	for _, user := range []string{"alice", "nobody"} {
		resp := h.login(h.browser(), user, pw, nil)
		html := body(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(html, throttledLogin) || strings.Contains(html, badLogin) {
			t.Errorf("%s past the limit: %d, want 429 and %q", user, resp.StatusCode, throttledLogin)
		}
		s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || s < 1 || time.Duration(s)*time.Second > defaultWindow {
			t.Errorf("%s past the limit: Retry-After %q, want seconds within the window", user, resp.Header.Get("Retry-After"))
		}
	}
}
