package identity

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// grantsDoc is a metadata document whose grant_types the test changes
// while the server may be fetching it (nil leaves the field out).
type grantsDoc struct {
	mu     sync.Mutex
	grants []string
}

func (d *grantsDoc) set(g ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.grants = g
}

func (d *grantsDoc) serve(w http.ResponseWriter, id string) {
	d.mu.Lock()
	g := d.grants
	d.mu.Unlock()
	doc := map[string]any{"client_name": "Claude", "redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "none"}
	if g != nil {
		doc["grant_types"] = g
	}
	jsonDoc(doc)(w, id)
}

// TestMetadataGrantTypesAreHonoured: a metadata document's grant_types
// are what its client may use (RFC 7591 §2, whose default when they are
// left out is authorization_code alone, as for a registered client): a
// document that does not list refresh_token gets no refresh token, and one
// that stops listing it can no longer redeem one it was given.
func TestMetadataGrantTypesAreHonoured(t *testing.T) {
	m := newMetadataServer(t)
	docs := map[string]*grantsDoc{}
	for path, g := range map[string][]string{
		"/both.json":     {"authorization_code", "refresh_token"},
		"/codeonly.json": {"authorization_code"},
		"/unlisted.json": nil,
	} {
		d := &grantsDoc{}
		d.set(g...)
		docs[path] = d
		m.docs[path] = d.serve
	}
	h := metadataHarness(t, m)
	b := h.signedIn("alice")
	tokens := func(id string) tokenResult {
		t.Helper()
		v := authParams("client_id", id, "redirect_uri", "http://127.0.0.1:5555/cb", "scope", "openid offline_access")
		resp := h.authorize(b, v)
		if resp.StatusCode == 200 {
			resp = allowConsent(t, h, b, resp)
		}
		q := redirectQuery(t, resp, "http://127.0.0.1:5555/cb?")
		r := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"code_verifier": {verifier}, "redirect_uri": {"http://127.0.0.1:5555/cb"}})
		if r.Status != 200 {
			t.Fatalf("%s: token: %d %v", id, r.Status, r.JSON)
		}
		return r
	}
	for _, path := range []string{"/codeonly.json", "/unlisted.json"} {
		id := m.srv.URL + path
		if r := tokens(id); r.Refresh != "" {
			t.Errorf("%s: a refresh token was issued to a client whose document does not list refresh_token", path)
		}
	}
	id := m.srv.URL + "/both.json"
	r := tokens(id)
	if r.Refresh == "" {
		t.Fatalf("no refresh token for a document listing refresh_token: %v", r.JSON)
	}
	// The document drops refresh_token: once it is read again, the
	// refresh token it was given is refused.
	docs["/both.json"].set("authorization_code")
	h.clock.Advance(2 * time.Hour)
	if r := h.token(id, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); r.Status == 200 || r.Error != "unauthorized_client" {
		t.Errorf("refresh after the document dropped refresh_token: %d %v", r.Status, r.JSON)
	}
}
