package identity

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFederatedGrantRefreshesWhileItsSessionLives: a grant without
// offline_access lasts as long as the session it came from. A federated
// session is stored now, and lives its 12 hours from now, but its AuthTime
// is the upstream's auth_time, which may be days old (an upstream keeps its
// own sessions long). The refresh took AuthTime + 12 hours for the end of
// the session, so such a person's refresh tokens were refused from the
// first use, while the session itself was alive.
func TestFederatedGrantRefreshesWhileItsSessionLives(t *testing.T) {
	h, up := fedHarness(t)
	up.set(func(u *fakeUpstream) { u.claims["auth_time"] = time.Now().Add(-13 * time.Hour).Unix() })
	b := h.browser()
	resp := fedSignIn(t, h, b, authParams())
	body(t, resp)
	resp, err := b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r := h.redeem(redirectQuery(t, resp, webRedirect).Get("code"))
	if r.Status != http.StatusOK || r.Refresh == "" {
		t.Fatalf("redeem: %d %v", r.Status, r.JSON)
	}
	x := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}})
	if x.Status != http.StatusOK {
		t.Fatalf("refresh of a grant whose session is alive: %d %v", x.Status, x.JSON)
	}
	// The session's end still ends it.
	h.clock.Advance(12*time.Hour + time.Minute)
	if y := h.token("web", "web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {x.Refresh}}); !strings.Contains(fmt.Sprint(y.JSON["error_description"]), "has ended") {
		t.Fatalf("refresh after the session ended: %d %v", y.Status, y.JSON)
	}
}
