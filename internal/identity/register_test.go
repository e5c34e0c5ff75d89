package identity

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (h *harness) register(doc string) tokenResult {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url("/register"), strings.NewReader(doc))
	req.Header.Set("Content-Type", "application/json")
	return h.do(req)
}

func TestRegisterPublicClient(t *testing.T) {
	h := newHarness(t)
	// What the TypeScript MCP SDK sends.
	r := h.register(`{"redirect_uris":["http://localhost:33418/callback"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector",
		"client_uri":"https://github.com/modelcontextprotocol/inspector","scope":"openid tools unknown"}`)
	if r.Status != 201 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v", r.Status, r.JSON)
	}
	id, _ := r.JSON["client_id"].(string)
	if id == "" || r.JSON["client_secret"] != nil || r.JSON["token_endpoint_auth_method"] != "none" ||
		r.JSON["scope"] != "openid tools" || r.JSON["client_id_issued_at"] == nil {
		t.Errorf("response %v", r.JSON)
	}
	if uris, _ := r.JSON["redirect_uris"].([]any); len(uris) != 1 {
		t.Errorf("redirect_uris not echoed: %v", r.JSON)
	}
	c, err := h.db.Clients().Get(t.Context(), id)
	if err != nil || c.Source != store.SourceRegistered || c.Kind != store.KindAgent || c.FirstParty ||
		c.Confidential() || c.Name != "MCP Inspector" {
		t.Fatalf("stored %+v, %v", c, err)
	}
	if ev, ok := h.audit.last(audit.ClientRegistered); !ok || ev.Agent != id {
		t.Errorf("event %+v", ev)
	}
	// It can run the code flow (after consent) from any loopback port.
	b := h.signedIn("alice")
	v := authParams("client_id", id, "redirect_uri", "http://localhost:40000/callback")
	csrf, authz := consentForm(t, h.authorize(b, v))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	q := redirectQuery(t, resp, "http://localhost:40000/callback?")
	tr := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {"http://localhost:40000/callback"}, "resource": {h.srv.URL + "/mcp"}})
	if tr.Status != 200 || claims(t, tr.Access)["client_id"] != id {
		t.Fatalf("token: %v", tr.JSON)
	}
}

func TestRegisterConfidentialClient(t *testing.T) {
	h := newHarness(t)
	r := h.register(`{"redirect_uris":["https://agent.example/cb"],"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:token-exchange"]}`)
	if r.Status != 201 || r.JSON["token_endpoint_auth_method"] != "client_secret_basic" || r.JSON["client_secret_expires_at"] != float64(0) {
		t.Fatalf("register: %v", r.JSON)
	}
	id, secret := r.JSON["client_id"].(string), r.JSON["client_secret"].(string)
	c, _ := h.db.Clients().Get(t.Context(), id)
	if !c.Confidential() || strings.Contains(c.SecretHash, secret) || !strings.HasPrefix(c.SecretHash, "$sha256$") {
		t.Errorf("stored secret %q", c.SecretHash)
	}
	// The issued secret authenticates the client (here at introspection).
	if in := h.post("/introspect", id, secret, url.Values{"token": {"x"}}); in.Status != 200 {
		t.Errorf("the issued secret: %d %v", in.Status, in.JSON)
	}
	if in := h.post("/introspect", id, secret+"x", url.Values{"token": {"x"}}); in.Status != 401 {
		t.Errorf("another secret: %d %v", in.Status, in.JSON)
	}
}

func TestRegisterRefusals(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, doc, error string
	}{
		{"no redirect_uris", `{"token_endpoint_auth_method":"none"}`, "invalid_redirect_uri"},
		{"http non-loopback", `{"redirect_uris":["http://evil.example/cb"]}`, "invalid_redirect_uri"},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		{"data", `{"redirect_uris":["data:text/html,x"]}`, "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://a.example/cb#x"]}`, "invalid_redirect_uri"},
		{"relative", `{"redirect_uris":["/cb"]}`, "invalid_redirect_uri"},
		{"credentials", `{"redirect_uris":["https://u:p@a.example/cb"]}`, "invalid_redirect_uri"},
		{"auth method", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata"},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}`, "invalid_client_metadata"},
		{"response type token", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata"},
		{"public client_credentials", `{"token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		{"client_credentials", `{"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		{"client_credentials besides a code", `{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","client_credentials"]}`, "invalid_client_metadata"},
		{"not JSON", `redirect_uris=x`, "invalid_client_metadata"},
		{"a field twice", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
		{"a field twice but for case", `{"redirect_uris":["https://a.example/cb"],"client_name":"A","Client_Name":"B"}`, "invalid_client_metadata"},
		{"not UTF-8", "{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"Caf\xe9\"}", "invalid_client_metadata"},
		{"array", `[1]`, "invalid_client_metadata"},
		{"bad client_uri", `{"redirect_uris":["https://a.example/cb"],"client_uri":"javascript:x"}`, "invalid_client_metadata"},
		{"long name", `{"redirect_uris":["https://a.example/cb"],"client_name":"` + strings.Repeat("x", 300) + `"}`, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.register(tc.doc)
			if r.Status != 400 || r.Error != tc.error {
				t.Fatalf("%d %v, want %s", r.Status, r.JSON, tc.error)
			}
		})
	}
	// Form-encoded bodies are refused.
	req, _ := http.NewRequest("POST", h.url("/register"), strings.NewReader("redirect_uris=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := h.do(req); r.Error != "invalid_client_metadata" {
		t.Errorf("form body: %v", r.JSON)
	}
}

func TestRegisterLimits(t *testing.T) {
	h := newHarness(t, func(p *Provider) { p.RegistrationsPerIP = 2 })
	doc := `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`
	for range 2 {
		if r := h.register(doc); r.Status != 201 {
			t.Fatal(r.JSON)
		}
	}
	if r := h.register(doc); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("third registration: %d %v", r.Status, r.JSON)
	}
	off := newHarness(t, func(p *Provider) { p.DisableRegistration = true })
	if r := off.register(doc); r.Status != 403 {
		t.Errorf("disabled: %d", r.Status)
	}
	resp, _ := http.Get(off.url("/.well-known/openid-configuration"))
	if strings.Contains(body(t, resp), "registration_endpoint") {
		t.Error("a disabled registration endpoint is advertised")
	}
}

// metadataServer serves client ID metadata documents over TLS.
type metadataServer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	docs    map[string]func(w http.ResponseWriter, id string)
}

func newMetadataServer(t *testing.T) *metadataServer {
	m := &metadataServer{docs: map[string]func(http.ResponseWriter, string){}}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.fetches.Add(1)
		if f, ok := m.docs[r.URL.Path]; ok {
			f(w, m.srv.URL+r.URL.Path)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func jsonDoc(doc map[string]any) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, id string) {
		if _, ok := doc["client_id"]; !ok {
			doc["client_id"] = id
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_ = json.NewEncoder(w).Encode(doc)
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	m := newMetadataServer(t)
	h := newHarness(t, func(p *Provider) {
		p.AllowPrivateMetadataHosts = true
		p.MetadataRootCAs = m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	})
	m.docs["/client.json"] = jsonDoc(map[string]any{"client_name": "Claude", "redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	id := m.srv.URL + "/client.json"
	b := h.signedIn("alice")
	v := authParams("client_id", id, "redirect_uri", "http://127.0.0.1:5555/cb")
	csrf, authz := consentForm(t, h.authorize(b, v))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	q := redirectQuery(t, resp, "http://127.0.0.1:5555/cb?")
	r := h.token(id, "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}})
	if r.Status != 200 || claims(t, r.Access)["client_id"] != id {
		t.Fatalf("token: %v", r.JSON)
	}
	if n := m.fetches.Load(); n != 1 {
		t.Errorf("fetched %d times, want 1 (cached)", n)
	}
	c, err := h.db.Clients().Get(t.Context(), id)
	if err != nil || c.Source != store.SourceMetadata || c.Kind != store.KindAgent || c.Name != "Claude" {
		t.Errorf("stored %+v %v", c, err)
	}
	// An admin disables it: that holds at once, though the document's
	// copy is cached for an hour.
	h.p.ClientCacheTTL = -1
	if err := h.db.Clients().Update(t.Context(), id, func(c store.Client) (store.Client, error) {
		c.Disabled = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp = h.authorize(b, v)
	if html := body(t, resp); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("authorize with the client disabled: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), html)
	}
	if r := h.token(id, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Refresh}}); r.Status == 200 {
		t.Errorf("refresh with the client disabled: %v", r.JSON)
	}
}

func TestClientIDMetadataRefusals(t *testing.T) {
	m := newMetadataServer(t)
	roots := m.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	h := newHarness(t, func(p *Provider) { p.AllowPrivateMetadataHosts = true; p.MetadataRootCAs = roots })
	good := map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}}
	m.docs["/redirect.json"] = func(w http.ResponseWriter, _ string) {
		w.Header().Set("Location", m.srv.URL+"/good.json")
		w.WriteHeader(http.StatusFound)
	}
	m.docs["/good.json"] = jsonDoc(good)
	m.docs["/big.json"] = jsonDoc(map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": strings.Repeat("x", 6000)})
	m.docs["/mismatch.json"] = jsonDoc(map[string]any{"client_id": "https://other.example/c.json", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	m.docs["/secret.json"] = jsonDoc(map[string]any{"client_secret": "x", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	m.docs["/confidential.json"] = jsonDoc(map[string]any{"token_endpoint_auth_method": "client_secret_basic", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	m.docs["/noredirect.json"] = jsonDoc(map[string]any{"client_name": "x"})
	m.docs["/html.json"] = func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `{"redirect_uris":["http://127.0.0.1/cb"]}`)
	}
	var logs strings.Builder
	h.p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := h.signedIn("alice")
	for path, reason := range map[string]string{
		"/redirect.json":     "status 302",
		"/big.json":          "larger than",
		"/mismatch.json":     "differs from the URL",
		"/secret.json":       "must not carry a client secret",
		"/confidential.json": "token_endpoint_auth_method",
		"/noredirect.json":   "no redirect_uris",
		"/html.json":         "content type",
		"/missing.json":      "status 404",
	} {
		logs.Reset()
		v := authParams("client_id", m.srv.URL+path, "redirect_uri", "http://127.0.0.1/cb")
		resp := h.authorize(b, v)
		body(t, resp)
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(logs.String(), reason) {
			t.Errorf("%s: log %q lacks %q", path, logs.String(), reason)
		}
	}
	// The same document on a loopback host, without the operator's leave.
	logs.Reset()
	strict := newHarness(t, func(p *Provider) { p.MetadataRootCAs = roots; p.Logger = h.p.Logger })
	resp := strict.authorize(strict.signedIn("alice"), authParams("client_id", m.srv.URL+"/good.json", "redirect_uri", "http://127.0.0.1/cb"))
	body(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(logs.String(), "is not a public address") {
		t.Errorf("loopback metadata host without the option: %d %s", resp.StatusCode, logs.String())
	}
	// http URLs and URLs without a path are not metadata client IDs.
	for _, id := range []string{"http://a.example/c.json", "https://a.example", "https://a.example/", "https://a.example/c.json#x",
		"https://u@a.example/c.json", "https://a.example/../c.json",
		// Characters a URL percent-encodes, which would reach the consent
		// page and admins' listings as they are: a right-to-left
		// override, C1 CSI, ESC, a space.
		"https://a.example/\u202egpj.c", "https://a.example/\u009b2Jc", "https://a.example/\x1b[2Jc", "https://a.example/a b"} {
		if isMetadataClientID(id) {
			t.Errorf("%s counted as a metadata client ID", id)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"0.0.0.0": false, "100.64.0.1": false, "::1": false, "fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "255.255.255.255": false, "64:ff9b::a00:1": false, "2002:a00:1::": false,
		// IPv4-compatible, IPv4-translated, Teredo, site-local, discard-only.
		"::7f00:1": false, "::a00:1": false, "::ffff:0:7f00:1": false, "2001:0:4136:e378:8000:63bf:3fff:fdd2": false,
		"fec0::1": false, "100::1": false, "2001:4860:4860::8888": true,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v", addr, got)
		}
	}
}
