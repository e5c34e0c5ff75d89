package identity

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// changingDoc is a metadata document whose redirect_uris the test changes
// while the server may be fetching it.
type changingDoc struct {
	mu        sync.Mutex
	redirects []string
}

func (d *changingDoc) set(uris ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redirects = uris
}

func (d *changingDoc) serve(w http.ResponseWriter, id string) {
	d.mu.Lock()
	uris := d.redirects
	d.mu.Unlock()
	jsonDoc(map[string]any{"client_name": "Claude", "redirect_uris": uris})(w, id)
}

// allowConsent answers the consent page resp with "allow" and returns the
// answer.
func allowConsent(t *testing.T, h *harness, b *http.Client, resp *http.Response) *http.Response {
	t.Helper()
	csrf, authz := consentForm(t, resp)
	resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// asksConsent fails unless resp is the consent page naming host as where
// the browser is sent; it never lets a code through.
func asksConsent(t *testing.T, name string, resp *http.Response, host string) {
	t.Helper()
	html := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(html, "Allow access?") {
		t.Fatalf("%s: no consent page but %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(html, "you will be sent to <strong>"+host+"</strong>") {
		t.Errorf("%s: the consent page does not say it sends to %s", name, host)
	}
}

// TestMetadataConsentDoesNotFollowANewRedirectHost: a person allowed a
// metadata client whose page said the browser goes to a.example. The
// document then names b.example too (or instead): a request sending the
// code to b.example asks the person again rather than using a consent
// given for somewhere else.
func TestMetadataConsentDoesNotFollowANewRedirectHost(t *testing.T) {
	m := newMetadataServer(t)
	doc := &changingDoc{}
	doc.set("https://a.example/cb")
	m.docs["/client.json"] = doc.serve
	h := metadataHarness(t, m, noIdleTimeout) // the session waits hours unused
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	to := func(uri string) url.Values { return authParams("client_id", id, "redirect_uri", uri) }

	resp := h.authorize(b, to("https://a.example/cb"))
	redirectQuery(t, allowConsent(t, h, b, resp), "https://a.example/cb?")
	// Allowed once, the same request goes through.
	redirectQuery(t, h.authorize(b, to("https://a.example/cb")), "https://a.example/cb?")

	// The document adds b.example; once the cached copy is stale, it is
	// read again.
	doc.set("https://a.example/cb", "https://b.example/cb")
	h.clock.Advance(2 * time.Hour)
	asksConsent(t, "added host", h.authorize(b, to("https://b.example/cb")), "b.example")
	// a.example is still what the person allowed.
	redirectQuery(t, h.authorize(b, to("https://a.example/cb")), "https://a.example/cb?")

	// Allowed for b.example too, both go through.
	redirectQuery(t, allowConsent(t, h, b, h.authorize(b, to("https://b.example/cb"))), "https://b.example/cb?")
	redirectQuery(t, h.authorize(b, to("https://b.example/cb")), "https://b.example/cb?")
	redirectQuery(t, h.authorize(b, to("https://a.example/cb")), "https://a.example/cb?")

	// The document replaces them with c.example, named by the request
	// or left for the server to take as the only one registered.
	doc.set("https://c.example/cb")
	h.clock.Advance(2 * time.Hour)
	asksConsent(t, "replaced host", h.authorize(b, to("https://c.example/cb")), "c.example")
	noRedirect := authParams("client_id", id, "redirect_uri", "", "scope", "profile")
	asksConsent(t, "replaced host, redirect_uri left out", h.authorize(b, noRedirect), "c.example")
}

// TestSelfRegisteredConsentIsForWhereThePageSaidItSends: a registered
// client with two redirect hosts; the person allowed it for a request
// that the page said goes to the first. A request sending the code to
// the other asks again: the page's line on where the browser goes would
// otherwise speak for one host and let another through.
func TestSelfRegisteredConsentIsForWhereThePageSaidItSends(t *testing.T) {
	h := newHarness(t)
	r := h.register(`{"redirect_uris":["https://claude.ai/cb","https://evil.example/cb"],"token_endpoint_auth_method":"none","client_name":"Claude"}`)
	id, _ := r.JSON["client_id"].(string)
	if r.Status != 201 {
		t.Fatalf("register: %d %v", r.Status, r.JSON)
	}
	b := h.signedIn("alice")
	to := func(uri string) url.Values { return authParams("client_id", id, "redirect_uri", uri) }
	redirectQuery(t, allowConsent(t, h, b, h.authorize(b, to("https://claude.ai/cb"))), "https://claude.ai/cb?")
	asksConsent(t, "other host", h.authorize(b, to("https://evil.example/cb")), "evil.example")
}

// TestLoopbackConsentHoldsOnAnyPort: a native client's loopback redirect
// takes a new port each run (RFC 8252 §7.3); the consent given on one port
// holds on the next.
func TestLoopbackConsentHoldsOnAnyPort(t *testing.T) {
	m := newMetadataServer(t)
	m.docs["/client.json"] = jsonDoc(map[string]any{"client_name": "Claude", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	h := metadataHarness(t, m)
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	to := func(uri string) url.Values { return authParams("client_id", id, "redirect_uri", uri) }
	redirectQuery(t, allowConsent(t, h, b, h.authorize(b, to("http://127.0.0.1:5555/cb"))), "http://127.0.0.1:5555/cb?")
	redirectQuery(t, h.authorize(b, to("http://127.0.0.1:6666/cb")), "http://127.0.0.1:6666/cb?")
}

// TestConsentAnswerGoesWhereThePageSaid: the consent page of a metadata
// client whose request left out redirect_uri said the browser goes to
// c.example; the document changes to d.example before the person answers.
// The answer sends no code to d.example, which the person never saw.
func TestConsentAnswerGoesWhereThePageSaid(t *testing.T) {
	m := newMetadataServer(t)
	doc := &changingDoc{}
	doc.set("https://c.example/cb")
	m.docs["/client.json"] = doc.serve
	h := metadataHarness(t, m, noIdleTimeout) // the session waits hours unused
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	resp := h.authorize(b, authParams("client_id", id, "redirect_uri", "", "scope", "profile"))
	csrf, authz := consentForm(t, resp)
	doc.set("https://d.example/cb")
	h.clock.Advance(2 * time.Hour)
	resp, err := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "d.example") {
		t.Fatalf("the answer to a page naming c.example sent the browser to %s", loc)
	}
}

// TestErrorsGoOnlyWhereThePersonAllowed: authorization errors go back to a
// self-chosen client only where the person allowed it to send the browser.
// A metadata document that adds b.example after the person allowed
// a.example does not make this server bounce anyone to b.example with an
// error (an open redirect there, RFC 9700 §4.11.2).
func TestErrorsGoOnlyWhereThePersonAllowed(t *testing.T) {
	m := newMetadataServer(t)
	doc := &changingDoc{}
	doc.set("https://a.example/cb")
	m.docs["/client.json"] = doc.serve
	h := metadataHarness(t, m, noIdleTimeout) // the session waits hours unused
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	to := func(uri string, extra ...string) url.Values {
		return authParams(append([]string{"client_id", id, "redirect_uri", uri}, extra...)...)
	}
	redirectQuery(t, allowConsent(t, h, b, h.authorize(b, to("https://a.example/cb"))), "https://a.example/cb?")
	doc.set("https://a.example/cb", "https://b.example/cb")
	h.clock.Advance(2 * time.Hour)
	// Where the person allowed it, the error goes back as before.
	if q := redirectQuery(t, h.authorize(b, to("https://a.example/cb", "code_challenge_method", "plain")), "https://a.example/cb?"); q.Get("error") != "invalid_request" {
		t.Errorf("error to a.example: %v", q)
	}
	notRedirected(t, "error to the added host", h.authorize(b, to("https://b.example/cb", "code_challenge_method", "plain")), 400)
}
