package identity

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestSelfChosenRedirectURIsAreASCII: the consent page of a client that
// registered itself names the host it sends the code to, because the
// client's name proves nothing. A host written with look-alike letters
// (a Cyrillic "а" in "аpple.com") or a bidirectional override (which
// shows "\u202eelgoog.com" as "google.com" reversed into place) would make
// that line name a site the client is not. A URI is ASCII (RFC 3986): an
// internationalized host is given in its xn-- form, which is what the page
// then shows. Registration and metadata documents refuse anything else.
func TestSelfChosenRedirectURIsAreASCII(t *testing.T) {
	h := newHarness(t)
	for name, uri := range map[string]string{
		"look-alike host":        "https://\u0430pple.com/cb",
		"bidirectional override": "https://\u202eelgoog.com/cb",
		"no-break space in host": "https://a.example\u00a0evil/cb",
		"look-alike in the path": "https://a.example/\u0430pple",
	} {
		r := h.register(`{"redirect_uris":["` + uri + `"],"token_endpoint_auth_method":"none"}`)
		if r.Status != 400 || r.Error != "invalid_redirect_uri" {
			t.Errorf("%s: registration %d %v", name, r.Status, r.JSON)
		}
		r = h.register(`{"redirect_uris":["https://a.example/cb"],"post_logout_redirect_uris":["` + uri + `"],"token_endpoint_auth_method":"none"}`)
		if r.Status != 400 || r.Error != "invalid_client_metadata" {
			t.Errorf("%s as a post-logout URI: registration %d %v", name, r.Status, r.JSON)
		}
	}
	// The xn-- form is a URI, and the page shows it as it is.
	r := h.register(`{"redirect_uris":["https://xn--pple-43d.com/cb"],"token_endpoint_auth_method":"none"}`)
	id, _ := r.JSON["client_id"].(string)
	if r.Status != 201 {
		t.Fatalf("registration of an A-label host: %d %v", r.Status, r.JSON)
	}
	html := body(t, h.authorize(h.signedIn("alice"), authParams("client_id", id, "redirect_uri", "https://xn--pple-43d.com/cb")))
	if !strings.Contains(html, "you will be sent to <strong>xn--pple-43d.com</strong>") {
		t.Errorf("consent page of an A-label host:\n%s", html)
	}

	// A client stored before the rule is held to it when it asks.
	old := store.Client{ClientID: "dcr_before", Kind: store.KindAgent, Source: store.SourceRegistered,
		RedirectURIs: []string{"https://\u0430pple.com/cb"}, GrantTypes: []string{grantCode}, TokenEndpointAuthMethod: authNone}
	if err := h.db.Clients().Create(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	resp := h.authorize(h.signedIn("alice"), authParams("client_id", old.ClientID, "redirect_uri", old.RedirectURIs[0]))
	if html := body(t, resp); resp.StatusCode != 400 || strings.Contains(html, "you will be sent to") {
		t.Errorf("client stored with a look-alike host: %d\n%s", resp.StatusCode, html)
	}

	// A metadata document is held to the same rule.
	m := newMetadataServer(t)
	roots := m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	mh := newHarness(t, func(p *Provider) { p.AllowPrivateMetadataHosts = true; p.MetadataRootCAs = roots })
	m.docs["/lookalike.json"] = jsonDoc(map[string]any{"redirect_uris": []string{"https://\u0430pple.com/cb"}})
	resp = mh.authorize(mh.signedIn("alice"), authParams("client_id", m.srv.URL+"/lookalike.json", "redirect_uri", "https://\u0430pple.com/cb"))
	if html := body(t, resp); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("metadata document with a look-alike host: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), html)
	}
}
