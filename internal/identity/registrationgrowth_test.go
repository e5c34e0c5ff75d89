package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestUnusedRegistrationsAreForgotten: dynamic registration is open to
// anyone and bounded per address and hour only (RegistrationsPerIP, 100 by
// default; an IPv6 subscriber has that per /64). Each registration stores a
// client with up to 20 redirect URIs and 20 post-logout URIs of 2,000 bytes
// each, as much as the 64 KiB body holds, and records as much again in the
// audit trail, and each moves the tenant's revision, after which every
// replica's gateway reloads every user and client into memory
// (gateway.loadTenant). A registration never used (no grant, no token, no
// consent) is forgotten by a purge once UnusedClientTTL (a day) has passed;
// a year is generous.
func TestUnusedRegistrationsAreForgotten(t *testing.T) {
	h := newHarness(t, func(p *Provider) {
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	uris := func(prefix string) []string {
		var out []string
		for i := range 15 {
			u := fmt.Sprintf("https://%s%d.example/", prefix, i)
			out = append(out, u+strings.Repeat("p", 2000-len(u)))
		}
		return out
	}
	doc, _ := json.Marshal(map[string]any{"redirect_uris": uris("r"), "post_logout_redirect_uris": uris("l"),
		"token_endpoint_auth_method": "none"})
	const addresses = 20
	rev0, err := h.db.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range addresses {
		req, _ := http.NewRequest(http.MethodPost, h.url("/register"), strings.NewReader(string(doc)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		if r := h.do(req); r.Status != http.StatusCreated {
			t.Fatalf("registration %d: %d %v", i, r.Status, r.JSON)
		}
	}
	count := func() (n, bytes int) {
		cs, err := h.db.Clients().List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Source == store.SourceRegistered {
				n++
				for _, u := range append(c.RedirectURIs, c.PostLogoutRedirectURIs...) {
					bytes += len(u)
				}
			}
		}
		return n, bytes
	}
	n, size := count()
	rev1, err := h.db.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Each moves the tenant's revision: every replica's gateway then
	// reloads every user and client (gateway.loadTenant) within a second.
	t.Logf("%d registrations from %d addresses stored %d clients with %d bytes of URIs and moved the tenant's revision %d times",
		addresses, addresses, n, size, rev1-rev0)

	h.clock.Advance(400 * 24 * time.Hour)
	if err := h.p.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, size := count(); n != 0 {
		t.Errorf("after 400 days and a purge, %d registered clients never used are still stored (%d bytes of URIs)", n, size)
	}
}

// TestPurgeKeepsClientsInUse: a purge removes the clients that added
// themselves and hold nothing once they are a day old, and no other: not
// one a person signed in through (its consent and refresh token stand, and
// keep working), not one an administrator disabled, not the tenant's own,
// and not one younger than a day. A metadata client removed is stored
// again, as a new client, on its next use.
func TestPurgeKeepsClientsInUse(t *testing.T) {
	m := newMetadataServer(t)
	h := newHarness(t, func(p *Provider) {
		p.AllowPrivateMetadataHosts = true
		p.MetadataRootCAs = m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		p.ClientCacheTTL = -1
	})
	ctx := t.Context()
	register := func() string {
		t.Helper()
		r := h.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
			"grant_types":["authorization_code","refresh_token"]}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %v", r.Status, r.JSON)
		}
		return r.JSON["client_id"].(string)
	}
	used, unused, disabled := register(), register(), register()
	if err := h.db.Clients().Update(ctx, disabled, func(c store.Client) (store.Client, error) {
		c.Disabled = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	// alice signs in through used, and allows it offline access.
	b := h.signedIn("alice")
	v := authParams("client_id", used, "redirect_uri", "http://127.0.0.1:5555/cb", "scope", "openid offline_access")
	csrf, authz := consentForm(t, h.authorize(b, v))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	q := redirectQuery(t, resp, "http://127.0.0.1:5555/cb?")
	tr := h.token(used, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:5555/cb"}})
	if tr.Status != http.StatusOK || tr.Refresh == "" {
		t.Fatalf("token: %v", tr.JSON)
	}
	// A metadata client is stored at its first authorization request,
	// which nobody completes.
	m.docs["/client.json"] = jsonDoc(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "none"})
	meta := m.srv.URL + "/client.json"
	mv := authParams("client_id", meta, "redirect_uri", "http://127.0.0.1:5555/cb")
	consentForm(t, h.authorize(b, mv))
	first, err := h.db.Clients().Get(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}

	stored := func() map[string]bool {
		t.Helper()
		cs, err := h.db.Clients().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, c := range cs {
			out[c.ClientID] = true
		}
		return out
	}
	before := stored()
	h.clock.Advance(23 * time.Hour)
	if err := h.p.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if after := stored(); len(after) != len(before) {
		t.Errorf("a purge within a day of the registrations removed clients: %d stored, then %d", len(before), len(after))
	}

	h.clock.Advance(2 * time.Hour)
	// The refresh token outlives the code: purged, used holds its consent
	// and refresh token only.
	if err := h.p.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	after := stored()
	for _, id := range []string{unused, meta} {
		if after[id] {
			t.Errorf("client %s, unused for a day, was not removed", id)
		}
	}
	for _, id := range []string{used, disabled, "web", "native", "billing", "agent"} {
		if !after[id] {
			t.Errorf("client %s was removed", id)
		}
	}
	if at, err := h.db.Identity().ClientEndedAt(ctx, unused); err != nil || at.IsZero() {
		t.Errorf("the removal of %s is not kept: %v %v", unused, at, err)
	}
	// The client in use works as before.
	if r := h.token(used, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}}); r.Status != http.StatusOK {
		t.Errorf("refresh through the client in use after the purge: %d %v", r.Status, r.JSON)
	}
	// The removed one is unknown.
	if r := h.token(unused, "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {verifier}}); r.Error != "invalid_client" {
		t.Errorf("token request of the removed client: %d %v", r.Status, r.JSON)
	}
	// The metadata client comes back, as a new client, when next used.
	b = h.signedIn("alice")
	consentForm(t, h.authorize(b, mv))
	again, err := h.db.Clients().Get(ctx, meta)
	if err != nil || !again.CreatedAt.After(first.CreatedAt) {
		t.Errorf("the metadata client after its next use: created %v (first %v), %v", again.CreatedAt, first.CreatedAt, err)
	}
}
