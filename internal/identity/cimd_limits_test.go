package identity

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
)

func metadataHarness(t *testing.T, m *metadataServer, opts ...func(*Provider)) *harness {
	t.Helper()
	return newHarness(t, append([]func(*Provider){func(p *Provider) {
		p.AllowPrivateMetadataHosts = true
		p.MetadataRootCAs = m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}}, opts...)...)
}

func metadataAuthz(id string) url.Values {
	return authParams("client_id", id, "redirect_uri", "http://127.0.0.1/cb")
}

// Each unknown URL client_id costs an outbound fetch and a client record:
// fetches are limited per address, refusals are remembered, and a new
// metadata client is audited like a registration.
func TestClientIDMetadataFetchLimits(t *testing.T) {
	m := newMetadataServer(t)
	for _, p := range []string{"/a.json", "/b.json", "/c.json"} {
		m.docs[p] = jsonDoc(map[string]any{"client_name": "Doc " + p, "redirect_uris": []string{"http://127.0.0.1/cb"}})
	}
	h := metadataHarness(t, m, func(p *Provider) { p.MetadataFetchesPerIP = 3 })
	b := h.signedIn("alice")

	// A new metadata client is recorded as registered, once.
	a := m.srv.URL + "/a.json"
	consentForm(t, h.authorize(b, metadataAuthz(a)))
	if ev, ok := h.audit.last(audit.ClientRegistered); !ok || ev.Agent != a || ev.Detail["source"] != "metadata" || ev.RemoteAddr != "127.0.0.1" {
		t.Errorf("registration event %+v", ev)
	}
	consentForm(t, h.authorize(b, metadataAuthz(a)))
	n := 0
	for _, typ := range h.audit.types() {
		if typ == audit.ClientRegistered {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d registration events, want 1", n)
	}

	// A refused document is remembered for about a minute: the login page
	// and the authorization endpoint do not fetch it again.
	missing := m.srv.URL + "/missing.json"
	before := m.fetches.Load()
	for range 3 {
		notRedirected(t, "missing document", h.authorize(b, metadataAuthz(missing)), 400)
		resp, _ := b.Get(h.url("/login?authz=" + url.QueryEscape(metadataAuthz(missing).Encode())))
		body(t, resp)
	}
	if got := m.fetches.Load() - before; got != 1 {
		t.Errorf("a missing document was fetched %d times, want 1", got)
	}

	// Counted so far: a.json and missing.json. b.json is the third fetch
	// allowed; c.json, the fourth, is not made.
	consentForm(t, h.authorize(b, metadataAuthz(m.srv.URL+"/b.json")))
	before = m.fetches.Load()
	notRedirected(t, "over the limit", h.authorize(b, metadataAuthz(m.srv.URL+"/c.json")), 400)
	if got := m.fetches.Load() - before; got != 0 {
		t.Errorf("%d fetches past the limit", got)
	}
	if _, err := h.db.Clients().Get(t.Context(), m.srv.URL+"/c.json"); err == nil {
		t.Error("a client was stored past the limit")
	}
	// A document already cached needs no fetch and still works.
	consentForm(t, h.authorize(b, metadataAuthz(a)))

	// After a minute the refusal is forgotten; after the window, the
	// address may fetch again.
	h.clock.Advance(16 * time.Minute)
	before = m.fetches.Load()
	notRedirected(t, "missing document later", h.authorize(b, metadataAuthz(missing)), 400)
	consentForm(t, h.authorize(b, metadataAuthz(m.srv.URL+"/c.json")))
	if got := m.fetches.Load() - before; got != 2 {
		t.Errorf("%d fetches after the window, want 2", got)
	}
}

// A metadata host that answers slowly is given up on after
// MetadataFetchTimeout.
func TestClientIDMetadataFetchTimeout(t *testing.T) {
	m := newMetadataServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	m.docs["/slow.json"] = func(w http.ResponseWriter, id string) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		jsonDoc(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}})(w, id)
	}
	h := metadataHarness(t, m, func(p *Provider) { p.MetadataFetchTimeout = 300 * time.Millisecond })
	b := h.signedIn("alice")
	start := time.Now()
	notRedirected(t, "slow document", h.authorize(b, metadataAuthz(m.srv.URL+"/slow.json")), 400)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the fetch took %v; MetadataFetchTimeout is 300ms", d)
	}
}

// lockedLog is a log sink the server's goroutines may write while the test
// reads it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client_id longer than maxClientIDLen is refused at the authorization
// and token endpoints with a message that says so, before anything is
// fetched, logged, cached or stored — even when a good document sits at
// the URL.
func TestClientIDTooLong(t *testing.T) {
	m := newMetadataServer(t)
	path := "/" + strings.Repeat("a", 5000-len(m.srv.URL)-len("/.json")) + ".json"
	m.docs[path] = jsonDoc(map[string]any{"client_name": "Long", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	id := m.srv.URL + path
	if len(id) != 5000 {
		t.Fatalf("client_id of %d bytes", len(id))
	}
	var logs lockedLog
	h := metadataHarness(t, m, func(p *Provider) { p.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	b := h.signedIn("alice")
	want := "longer than 2000 bytes"

	html := notRedirected(t, "authorize", h.authorize(b, metadataAuthz(id)), http.StatusBadRequest)
	if !strings.Contains(html, want) {
		t.Errorf("authorization page does not say why:\n%.300s", html)
	}
	r := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {verifier}})
	if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" || !strings.Contains(r.JSON["error_description"].(string), want) {
		t.Errorf("token (client_id in the body): %d %v", r.Status, r.JSON)
	}
	r = h.token(id, "secret", url.Values{"grant_type": {"client_credentials"}})
	if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" || !strings.Contains(r.JSON["error_description"].(string), want) {
		t.Errorf("token (client_id in Basic): %d %v", r.Status, r.JSON)
	}
	// The login page names the authorization request's client: not this one.
	resp, err := b.Get(h.url("/login?authz=" + url.QueryEscape(metadataAuthz(id).Encode())))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)

	if n := m.fetches.Load(); n != 0 {
		t.Errorf("the metadata document was fetched %d times", n)
	}
	h.p.cimd.mu.Lock()
	_, cached := h.p.cimd.m[id]
	h.p.cimd.mu.Unlock()
	if cached {
		t.Error("the client_id was cached")
	}
	if _, err := h.db.Clients().Get(t.Context(), id); err == nil {
		t.Error("a client was stored")
	}
	if strings.Contains(logs.String(), path) {
		t.Errorf("the client_id was logged:\n%.500s", logs.String())
	}
	if _, ok := h.audit.last(audit.ClientRegistered); ok {
		t.Error("a registration was recorded")
	}
}
