package identity

import (
	"strings"
	"testing"
)

// TestConsentNamesThePrivateUseSchemeItSendsTo: a redirect URI of a
// private-use scheme (RFC 8252 §7.1) goes to whatever handles the scheme
// (a native app, or a web site that registered itself as the handler of a
// web+ scheme), whatever host it names. The consent page of a client that
// registered itself must then name the scheme, not a host such as
// claude.ai that the code never goes to.
func TestConsentNamesThePrivateUseSchemeItSendsTo(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ uri, shown string }{
		{"web+evil://claude.ai/cb", "web&#43;evil:"}, // as the page escapes "+"
		{"com.example.app://claude.ai/cb", "com.example.app:"},
		{"com.example.app:/cb", "com.example.app:"},
		{"https://agent.example/cb", "agent.example"},
		{"http://127.0.0.1:8123/cb", "127.0.0.1:8123"},
	} {
		r := h.register(`{"redirect_uris":["` + tc.uri + `"],"token_endpoint_auth_method":"none","client_name":"Claude"}`)
		id, _ := r.JSON["client_id"].(string)
		if r.Status != 201 {
			t.Fatalf("register %s: %d %v", tc.uri, r.Status, r.JSON)
		}
		html := body(t, h.authorize(h.signedIn("alice"), authParams("client_id", id, "redirect_uri", tc.uri)))
		if !strings.Contains(html, "you will be sent to <strong>"+tc.shown+"</strong>") {
			t.Errorf("%s: the consent page does not say it sends to %s:\n%s", tc.uri, tc.shown, html)
		}
	}
}
