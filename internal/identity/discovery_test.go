package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiscovery(t *testing.T) {
	h := newHarness(t)
	var docs []map[string]any
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(h.url(path))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body(t, resp)), &m); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m)
	}
	if diff := cmp.Diff(docs[0], docs[1]); diff != "" {
		t.Errorf("the two documents differ:\n%s", diff)
	}
	m := docs[0]
	// The whole document: a key added to the code and not here, or a
	// value changed, fails.
	want := map[string]any{
		"issuer":                 h.srv.URL,
		"authorization_endpoint": h.url("/authorize"),
		"token_endpoint":         h.url("/token"),
		"userinfo_endpoint":      h.url("/userinfo"),
		"jwks_uri":               h.url("/jwks.json"),
		"registration_endpoint":  h.url("/register"),
		"revocation_endpoint":    h.url("/revoke"),
		"introspection_endpoint": h.url("/introspect"),
		"end_session_endpoint":   h.url("/logout"),

		"scopes_supported":         []any{"openid", "profile", "email", "offline_access", "tools"},
		"response_types_supported": []any{"code"},
		"response_modes_supported": []any{"query"},
		"grant_types_supported": []any{"authorization_code", "refresh_token", "client_credentials",
			"urn:ietf:params:oauth:grant-type:token-exchange"},
		"code_challenge_methods_supported":              []any{"S256"},
		"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
		"subject_types_supported":                       []any{"public"},
		"id_token_signing_alg_values_supported":         []any{"RS256", "EdDSA"},
		"claims_supported": []any{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid",
			"at_hash", "amr", "preferred_username", "email"},
		"prompt_values_supported": []any{"none", "login", "consent", "select_account"},

		"authorization_response_iss_parameter_supported": true,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"client_id_metadata_document_supported":          true,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
	checkSupportedValues(t, h, m)
	// Every endpoint listed is served: a GET or POST does not 404.
	for _, k := range []string{"authorization_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"} {
		resp, err := http.Get(m[k].(string))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("%s %s: 404", k, m[k])
		}
	}
}

func TestDiscoveryIssuerWithPath(t *testing.T) {
	h := newHarness(t)
	p := &Provider{Issuer: "https://id.example/tenants/acme", Store: h.db, Keys: h.p.Keys}
	mux := http.NewServeMux()
	p.Mount(mux)
	for path, want := range map[string]int{
		"/.well-known/oauth-authorization-server/tenants/acme": 200, // RFC 8414 §3.1
		"/tenants/acme/.well-known/openid-configuration":       200, // OIDC Discovery §4
		"/tenants/acme/jwks.json":                              200,
		"/.well-known/openid-configuration":                    404,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if want == 200 && path != "/tenants/acme/jwks.json" {
			var m map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &m)
			if m["issuer"] != "https://id.example/tenants/acme" || m["token_endpoint"] != "https://id.example/tenants/acme/token" {
				t.Errorf("%s: issuer %v token_endpoint %v", path, m["issuer"], m["token_endpoint"])
			}
		}
	}
}

func TestJWKS(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.url("/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &set); err != nil {
		t.Fatal(err)
	}
	algs := map[any]bool{}
	for _, k := range set.Keys {
		algs[k["alg"]] = true
		if _, ok := k["d"]; ok {
			t.Error("a private key part is published")
		}
	}
	if !algs["RS256"] || !algs["EdDSA"] {
		t.Errorf("JWKS algs %v, want RS256 and EdDSA", algs)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/jwk-set+json" {
		t.Errorf("Content-Type %q", got)
	}
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	for name, p := range map[string]*Provider{
		"empty issuer":    {Store: h.db, Keys: h.p.Keys},
		"query in issuer": {Issuer: "https://x.example/?a=1", Store: h.db, Keys: h.p.Keys},
		"ftp issuer":      {Issuer: "ftp://x.example", Store: h.db, Keys: h.p.Keys},
		"no store":        {Issuer: "https://x.example", Keys: h.p.Keys},
		"no keys":         {Issuer: "https://x.example", Store: h.db},
		"bad resource":    {Issuer: "https://x.example", Store: h.db, Keys: h.p.Keys, Resources: []string{"/relative"}},
		"bad scope":       {Issuer: "https://x.example", Store: h.db, Keys: h.p.Keys, Scopes: []string{"a b"}},
	} {
		if err := p.Check(); err == nil {
			t.Errorf("%s: Check() = nil", name)
		}
	}
}

// strings of a metadata list.
func metaList(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	var out []string
	for _, v := range m[key].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// checkSupportedValues holds the lists of the discovery document to what
// the endpoints do: each value listed is acted on, and (where the protocol
// has more) one not listed is not.
func checkSupportedValues(t *testing.T, h *harness, m map[string]any) {
	t.Helper()
	// grant_types_supported: /token knows each listed grant type, and no
	// other.
	for _, g := range append(metaList(t, m, "grant_types_supported"), "password", "implicit",
		"urn:ietf:params:oauth:grant-type:device_code") {
		r := h.token("agent", "agent-secret", url.Values{"grant_type": {g}})
		listed := slices.Contains(metaList(t, m, "grant_types_supported"), g)
		if unsupported := r.Error == "unsupported_grant_type"; unsupported == listed {
			t.Errorf("grant type %s: listed %v, /token answers %d %v", g, listed, r.Status, r.JSON)
		}
	}
	// prompt_values_supported: each listed value changes what /authorize
	// does for a signed-in person who consented to the (not first-party)
	// native client, who without a prompt gets a code at once; an unlisted
	// value does not.
	b := h.signedIn("alice")
	csrf, authz := consentForm(t, h.authorize(b, nativeParams()))
	resp, _ := b.PostForm(h.url("/consent"), url.Values{"csrf": {csrf}, "authz": {authz}, "decision": {"allow"}})
	redirectQuery(t, resp, nativeRedirect+"?code=")
	for _, pv := range append(metaList(t, m, "prompt_values_supported"), "create") {
		resp := h.authorize(b, nativeParams("prompt", pv))
		html := body(t, resp)
		loc := resp.Header.Get("Location")
		var got string
		switch {
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, h.url("/login")):
			got = "login"
		case resp.StatusCode == http.StatusOK && strings.Contains(html, `action="`+h.url("/consent")+`"`):
			got = "consent"
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, nativeRedirect+"?code="):
			got = "code"
		default:
			got = fmt.Sprintf("%d %s", resp.StatusCode, loc)
		}
		want := map[string]string{"none": "code", "login": "login", "select_account": "login", "consent": "consent"}[pv]
		if want == "" {
			want = "code" // not supported: ignored
		}
		if got != want {
			t.Errorf("prompt=%s: %s, want %s", pv, got, want)
		}
	}
	// scopes_supported are granted, and the ID token's claims are among
	// claims_supported.
	all := strings.Join(metaList(t, m, "scopes_supported"), " ")
	r := h.userTokens("scope", all)
	if r.JSON["scope"] != all {
		t.Errorf("asked for every supported scope, granted %q", r.JSON["scope"])
	}
	for k := range claims(t, r.ID) {
		if !slices.Contains(metaList(t, m, "claims_supported"), k) {
			t.Errorf("the ID token has the claim %s, not in claims_supported", k)
		}
	}
	if alg := header(t, r.ID)["alg"].(string); !slices.Contains(metaList(t, m, "id_token_signing_alg_values_supported"), alg) {
		t.Errorf("ID token signed %s, not in id_token_signing_alg_values_supported", alg)
	}
}
