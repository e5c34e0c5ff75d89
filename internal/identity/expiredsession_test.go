package identity

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSessionAbsoluteEndRecorded: a session that reaches its 12 hours
// ends as a sign-out, an idle end or a new sign-in over it do: recorded,
// once, as a logout with the reason "expired", by whichever request finds
// it ended (an app's refresh here, the browser's next), even after the
// background purge has run meanwhile. It used to end without a trace: the
// purge deleted its record and nothing was written.
func TestSessionAbsoluteEndRecorded(t *testing.T) {
	h := newHarness(t, noIdleTimeout)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	if online.Refresh == "" {
		t.Fatalf("no refresh token: %v", online.JSON)
	}
	sid, _ := claims(t, online.ID)["sid"].(string)
	h.clock.Advance(12*time.Hour + time.Minute)
	if _, err := h.db.Identity().PurgeIdentity(context.Background(), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l := h.logouts(); len(l) != 0 {
		t.Fatalf("logouts recorded before anything noticed the end: %+v", l)
	}
	if r := refresh(h, online.Refresh); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Errorf("refresh after the session's end: %d %s, want invalid_grant", r.Status, r.Error)
	}
	if h.signedInStill(b) {
		t.Error("12 hours after the sign-in: still signed in")
	}
	refresh(h, online.Refresh)
	l := h.logouts()
	if len(l) != 1 {
		t.Fatalf("logouts recorded: %+v, want one", l)
	}
	if e := l[0]; e.Session != sid || e.Actor != "alice" || e.Status != "ok" || e.Detail["reason"] != "expired" {
		t.Errorf("logout recorded: %+v", e)
	}
}

// TestSessionAbsoluteEndAfterLogoutNotRecorded: a session signed out of
// before its 12 hours is not recorded again as expired when an app of it
// refreshes after them: it ended once, at the sign-out.
func TestSessionAbsoluteEndAfterLogoutNotRecorded(t *testing.T) {
	h := newHarness(t, noIdleTimeout)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	h.clock.Advance(time.Hour)
	endSessionOf(t, h, b)
	h.clock.Advance(12 * time.Hour)
	if _, err := h.db.Identity().PurgeIdentity(context.Background(), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	refresh(h, online.Refresh)
	h.signedInStill(b)
	for _, e := range h.logouts() {
		if e.Detail["reason"] == "expired" {
			t.Errorf("a session signed out of recorded as expired too: %+v", h.logouts())
		}
	}
}

// endSessionOf signs browser b out, with the signed-in page's button.
func endSessionOf(t *testing.T, h *harness, b *http.Client) {
	t.Helper()
	resp, err := b.Get(h.url(pathSignedIn))
	if err != nil {
		t.Fatal(err)
	}
	html := body(t, resp)
	resp, err = b.PostForm(h.url(pathLogout), formFields(t, html, h.url(pathLogout)))
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, "You are signed out") {
		t.Fatalf("sign-out: %d\n%s", resp.StatusCode, html)
	}
}

// TestSessionIdleBeforeItsEndRecordedIdle: a session left unused past
// the idle timeout and then past its 12 hours ended idle first: when it
// is noticed, it is recorded once, with the reason idle_timeout.
func TestSessionIdleBeforeItsEndRecordedIdle(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")
	online := h.redeem(h.code(b, authParams()))
	h.clock.Advance(13 * time.Hour)
	refresh(h, online.Refresh)
	h.signedInStill(b)
	if l := h.logouts(); len(l) != 1 || l[0].Detail["reason"] != "idle_timeout" {
		t.Errorf("logouts recorded: %+v, want one for the idle timeout", l)
	}
}
