package identity

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	want := map[string]any{
		"issuer":                                         h.srv.URL,
		"authorization_endpoint":                         h.url("/authorize"),
		"token_endpoint":                                 h.url("/token"),
		"userinfo_endpoint":                              h.url("/userinfo"),
		"jwks_uri":                                       h.url("/jwks.json"),
		"registration_endpoint":                          h.url("/register"),
		"revocation_endpoint":                            h.url("/revoke"),
		"introspection_endpoint":                         h.url("/introspect"),
		"end_session_endpoint":                           h.url("/logout"),
		"code_challenge_methods_supported":               []any{"S256"},
		"response_types_supported":                       []any{"code"},
		"id_token_signing_alg_values_supported":          []any{"RS256"},
		"authorization_response_iss_parameter_supported": true,
		"request_uri_parameter_supported":                false,
		"client_id_metadata_document_supported":          true,
		"scopes_supported":                               []any{"openid", "profile", "email", "offline_access", "tools"},
		"grant_types_supported": []any{"authorization_code", "refresh_token", "client_credentials",
			"urn:ietf:params:oauth:grant-type:token-exchange"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "none"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, m[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
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
