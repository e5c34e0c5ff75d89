package identity

import (
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestLogoutRecordNamesOnlyAVouchedClient: the logout record names the
// client the person signed out through only when an ID token of the
// session's vouches for it (id_token_hint). A client_id alone is anyone's
// to put in a link, and the person's confirmation says nothing of it:
// before, a link naming any client (one that exists or not) put that
// client into the trail as the one that signed the person out.
func TestLogoutRecordNamesOnlyAVouchedClient(t *testing.T) {
	h := newHarness(t)
	for _, claimed := range []string{"billing", "no-such-client"} {
		b := h.signedIn("alice")
		resp, err := b.Get(h.url("/logout?" + url.Values{"client_id": {claimed}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		html := body(t, resp)
		resp, err = b.PostForm(h.url("/logout"), formFields(t, html, h.url("/logout")))
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		e, ok := h.audit.last(audit.Logout)
		if !ok {
			t.Fatalf("client_id %s: no logout recorded", claimed)
		}
		if e.Agent != "" {
			t.Errorf("a logout link naming client_id %s, unvouched: the record names agent %q", claimed, e.Agent)
		}
	}

	b := h.signedIn("alice")
	r := h.redeem(h.code(b, authParams()))
	resp, err := b.Get(h.url("/logout?" + url.Values{"id_token_hint": {r.ID}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if e, _ := h.audit.last(audit.Logout); e.Agent != "web" {
		t.Errorf("a logout with the session's ID token of web: the record names agent %q, want web", e.Agent)
	}
}
