package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const evilCB = "https://evil.example/cb"

// registerEvil registers a client, as anyone may, whose addresses are an
// attacker's.
func registerEvil(t *testing.T, h *harness) string {
	t.Helper()
	r := h.register(`{"redirect_uris":["` + evilCB + `"],"post_logout_redirect_uris":["https://evil.example/bye"],
		"token_endpoint_auth_method":"none","client_name":"Totally Legit"}`)
	id, _ := r.JSON["client_id"].(string)
	if r.Status != 201 || id == "" {
		t.Fatalf("register: %d %v", r.Status, r.JSON)
	}
	return id
}

// notRedirected fails unless resp is a page, not a redirect.
func notRedirected(t *testing.T, name string, resp *http.Response, status int) string {
	t.Helper()
	html := body(t, resp)
	if resp.StatusCode != status || resp.Header.Get("Location") != "" {
		t.Errorf("%s: %d %q, want a %d page", name, resp.StatusCode, resp.Header.Get("Location"), status)
	}
	return html
}

// A self-registered client's redirect URI gets authorization errors only
// once this browser's person has consented to the client.
func TestAuthorizeErrorsDoNotBounceToSelfRegisteredClients(t *testing.T) {
	h := newHarness(t)
	id := registerEvil(t, h)
	evil := func(extra ...string) url.Values {
		return authParams(append([]string{"client_id", id, "redirect_uri", evilCB}, extra...)...)
	}
	// No session at all: a bad response_type, or prompt=none.
	notRedirected(t, "bad response_type, no session", h.authorize(h.browser(), evil("response_type", "token")), 400)
	notRedirected(t, "prompt=none, no session", h.authorize(h.browser(), evil("prompt", "none")), 400)
	// Signed in, no consent: the same, and a denial is shown too.
	b := h.signedIn("alice")
	notRedirected(t, "plain PKCE, signed in", h.authorize(b, evil("code_challenge_method", "plain")), 400)
	notRedirected(t, "prompt=none, signed in", h.authorize(b, evil("prompt", "none")), 400)
	csrf, authz := consentForm(t, h.authorize(b, evil()))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
	if html := notRedirected(t, "denied", resp, 403); !strings.Contains(html, "You did not allow Totally Legit") {
		t.Errorf("denial page: %s", html)
	}
	// Once alice allowed it, the client is hers to trust: errors go back.
	csrf, authz = consentForm(t, h.authorize(b, evil()))
	resp, _ = b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	redirectQuery(t, resp, evilCB+"?")
	if q := redirectQuery(t, h.authorize(b, evil("response_type", "token")), evilCB+"?"); q.Get("error") != "unsupported_response_type" {
		t.Errorf("after consent: %v", q)
	}
	// Another browser (bob's, or nobody's) still gets the page.
	notRedirected(t, "another person", h.authorize(h.signedIn("bob"), evil("response_type", "token")), 400)
	// Tenant clients are configured by the operator: redirected as before.
	if q := redirectQuery(t, h.authorize(h.browser(), nativeParams("response_type", "token")), nativeRedirect); q.Get("error") != "unsupported_response_type" {
		t.Errorf("tenant client: %v", q)
	}
}

// post_logout_redirect_uri is followed only with an ID token issued to the
// client; for a self-registered client, one of this browser's session.
func TestLogoutDoesNotBounceWithoutProof(t *testing.T) {
	h := newHarness(t)
	id := registerEvil(t, h)
	bye := "https://evil.example/bye"
	// No session, no hint: the logged-out page, not the client's address.
	resp, _ := h.browser().Get(h.url("/logout?" + url.Values{"client_id": {id}, "post_logout_redirect_uri": {bye}}.Encode()))
	if html := notRedirected(t, "no session, no hint", resp, 200); !strings.Contains(html, "You are signed out.") {
		t.Errorf("page: %s", html)
	}
	// The attacker signs in through their own client and holds an ID token
	// for it; it does not make anyone else's browser go there.
	mallory := h.signedIn("bob")
	csrf, authz := consentForm(t, h.authorize(mallory, authParams("client_id", id, "redirect_uri", evilCB)))
	resp, _ = mallory.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	code := redirectQuery(t, resp, evilCB+"?").Get("code")
	tr := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {evilCB}})
	if tr.ID == "" {
		t.Fatalf("no ID token: %v", tr.JSON)
	}
	withHint := url.Values{"id_token_hint": {tr.ID}, "post_logout_redirect_uri": {bye}}
	resp, _ = h.browser().Get(h.url("/logout?" + withHint.Encode()))
	notRedirected(t, "someone else's hint, no session", resp, 200)
	alice := h.signedIn("alice")
	resp, _ = alice.Get(h.url("/logout?" + withHint.Encode()))
	html := notRedirected(t, "someone else's hint, signed in", resp, 200)
	f := url.Values{"csrf": {csrfOf(t, html)}, "id_token_hint": {tr.ID}, "post_logout_redirect_uri": {bye}}
	resp, _ = alice.PostForm(h.url("/logout"), f)
	notRedirected(t, "someone else's hint, confirmed", resp, 200)
	// The hint's own session: back to the client.
	resp, _ = mallory.Get(h.url("/logout?" + withHint.Encode()))
	body(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != bye {
		t.Errorf("own session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A tenant client's address without a hint: signed out, no redirect.
	resp, _ = h.browser().Get(h.url("/logout?client_id=web&post_logout_redirect_uri=" + url.QueryEscape("https://app.example/bye")))
	notRedirected(t, "tenant client without a hint", resp, 200)
}

// TestRemovedMetadataClientGetsNoErrorRedirects: an administrator removes
// a metadata client; it comes back as a new client of the same ID (its
// document is still served), and the person's consent to the removed one
// is no longer its own: the consent page asks again. Authorization errors
// are then shown as a page too, not bounced to the client's (self-chosen)
// redirect URI on the strength of the removed client's consent.
func TestRemovedMetadataClientGetsNoErrorRedirects(t *testing.T) {
	m := newMetadataServer(t)
	m.docs["/gone.json"] = jsonDoc(map[string]any{"client_name": "Gone", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	h := metadataHarness(t, m)
	id := m.srv.URL + "/gone.json"
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, metadataAuthz(id)))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	redirectQuery(t, resp, "http://127.0.0.1/cb?")

	if err := h.db.Clients().Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	consentForm(t, h.authorize(b, metadataAuthz(id))) // asked again
	resp = h.authorize(b, authParams("client_id", id, "redirect_uri", "http://127.0.0.1/cb", "response_type", "token"))
	body(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusBadRequest || strings.HasPrefix(loc, "http://127.0.0.1/cb") {
		t.Errorf("error for a re-created metadata client without its own consent: %d %q, want a 400 page", resp.StatusCode, loc)
	}
}

// TestSelfRegisteredClientsShownForWhatTheyAre: a client that registered
// itself picks its own name, an app of the tenant's for one. The login and
// consent pages show such a client's ID beside its name and say that the
// name is its own choice; they say nothing of the kind for the tenant's
// apps.
func TestSelfRegisteredClientsShownForWhatTheyAre(t *testing.T) {
	h := newHarness(t)
	id := registerEvil(t, h)
	notice := "This app registered itself"
	evilAuthz := authParams("client_id", id, "redirect_uri", evilCB)

	resp := h.authorize(h.browser(), evilAuthz)
	resp.Body.Close()
	b := h.browser()
	resp, err := b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, resp); !strings.Contains(html, "Totally Legit") || !strings.Contains(html, id) || !strings.Contains(html, notice) {
		t.Errorf("the login page for a self-registered client:\n%s", html)
	}
	resp = h.authorize(h.browser(), authParams())
	resp.Body.Close()
	resp, err = b.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, resp); strings.Contains(html, notice) {
		t.Errorf("the login page for the tenant's app says it registered itself:\n%s", html)
	}

	if html := body(t, h.authorize(h.signedIn("alice"), evilAuthz)); !strings.Contains(html, id) || !strings.Contains(html, notice) {
		t.Errorf("the consent page for a self-registered client:\n%s", html)
	}
}

// A page that refuses a self-registered client's request shows its name
// as the login and consent pages do: with its ID, and saying that the
// name is the client's own choice. A link to /authorize with a bad
// parameter shows that page to anyone, signed in or not, and a name such
// as "Acme IT: your password has expired" would otherwise read as the
// organization's own words.
func TestRefusedPageSaysTheClientRegisteredItself(t *testing.T) {
	h := newHarness(t)
	id := registerEvil(t, h)
	notice := "This app registered itself"
	evil := authParams("client_id", id, "redirect_uri", evilCB, "response_type", "token")
	html := notRedirected(t, "bad response_type, no session", h.authorize(h.browser(), evil), 400)
	if !strings.Contains(html, "Totally Legit") || !strings.Contains(html, id) || !strings.Contains(html, notice) {
		t.Errorf("refused page of a self-registered client:\n%s", html)
	}
	// The person who denied it consent is told the same.
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, authParams("client_id", id, "redirect_uri", evilCB)))
	resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"deny"}})
	if err != nil {
		t.Fatal(err)
	}
	if html := notRedirected(t, "denied", resp, 403); !strings.Contains(html, id) || !strings.Contains(html, notice) {
		t.Errorf("denial page of a self-registered client:\n%s", html)
	}
	// A tenant client's name is the operator's: no notice.
	native := nativeParams("redirect_uri", "https://elsewhere.example/cb")
	if html := notRedirected(t, "tenant client", h.authorize(h.browser(), native), 400); strings.Contains(html, notice) {
		t.Errorf("refused page of a tenant client says it registered itself:\n%s", html)
	}
}

// TestConsentShowsWhereASelfRegisteredClientSends: the consent page of a
// client that registered itself says where the browser goes once the
// person allows (the host of the redirect URI, with the code), since its
// name proves nothing and its ID is a random string: an app that took
// a known app's name is told apart by where it sends. A tenant's app,
// which the organization set up, is shown as before.
func TestConsentShowsWhereASelfRegisteredClientSends(t *testing.T) {
	h := newHarness(t)
	id := registerEvil(t, h)
	host := "evil.example"
	html := body(t, h.authorize(h.signedIn("alice"), authParams("client_id", id, "redirect_uri", evilCB)))
	if !strings.Contains(html, "you will be sent to <strong>"+host+"</strong>") {
		t.Errorf("the consent page for a self-registered client does not say it sends to %s:\n%s", host, html)
	}
	html = body(t, h.authorize(h.signedIn("alice"), authParams("prompt", "consent")))
	if strings.Contains(html, "you will be sent to") {
		t.Errorf("the consent page for the tenant's app:\n%s", html)
	}
}
