package identity

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// A client whose registered grant types lack authorization_code gets no
// code: /authorize refuses it with unauthorized_client, redirected or shown
// by the usual rules (redirectguard.go).
func TestAuthorizeRefusesUnregisteredCodeGrant(t *testing.T) {
	h := newHarness(t)
	b := h.signedIn("alice")

	// A tenant client (trusted redirect URIs): the error is redirected.
	err := h.db.Clients().Create(t.Context(), store.Client{ClientID: "cc-only", Kind: store.KindAgent,
		SecretHash: hash(t, "cc-secret"), RedirectURIs: []string{agentRedirect}, Source: store.SourceTenant,
		GrantTypes: []string{grantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	q := redirectQuery(t, h.authorize(b, authParams("client_id", "cc-only", "redirect_uri", agentRedirect)), agentRedirect+"?")
	if q.Get("error") != "unauthorized_client" || q.Get("state") != "st-1" || q.Get("iss") != h.srv.URL || q.Has("code") {
		t.Errorf("tenant client: %v", q)
	}

	// A self-registered client without the person's consent: a page.
	r := h.register(`{"redirect_uris":["https://cc.example/cb"],"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %v", r.Status, r.JSON)
	}
	id := r.JSON["client_id"].(string)
	v := authParams("client_id", id, "redirect_uri", "https://cc.example/cb")
	resp := h.authorize(b, v)
	html := body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
		!strings.Contains(html, "not registered for the grant type authorization_code") {
		t.Errorf("registered client: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), html)
	}

	// The same client once the person has consented to it, for where
	// this request sends the browser: redirected.
	err = h.db.Identity().SetConsent(t.Context(), store.Consent{Username: "alice", ClientID: id,
		Scopes: []string{"openid"}, SendsTo: []string{"https://cc.example"}, GrantedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	q = redirectQuery(t, h.authorize(b, v), "https://cc.example/cb?")
	if q.Get("error") != "unauthorized_client" || q.Has("code") {
		t.Errorf("registered client with consent: %v", q)
	}
}
