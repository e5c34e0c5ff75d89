package identity

import (
	"net/http"
)

// Grant types.
const (
	grantCode              = "authorization_code"
	grantRefresh           = "refresh_token"
	grantClientCredentials = "client_credentials"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token endpoint authentication methods.
const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
	authNone  = "none"
)

// promptValues are the prompt values /authorize acts on (authorize.go):
// none answers without any page, login and select_account ask the person
// to sign in again (choosing the account), consent asks consent again.
var promptValues = []string{"none", "login", "consent", "select_account"}

// metadata is the authorization server metadata (RFC 8414), which is also
// the OpenID Provider metadata (OpenID Connect Discovery 1.0): one document
// served at both well-known locations. It lists only what is implemented.
func (p *Provider) metadata() map[string]any {
	m := map[string]any{
		"issuer":                 p.Issuer,
		"authorization_endpoint": p.url(pathAuthorize),
		"token_endpoint":         p.url(pathToken),
		"userinfo_endpoint":      p.url(pathUserinfo),
		"jwks_uri":               p.url(pathJWKS),
		"revocation_endpoint":    p.url(pathRevoke),
		"introspection_endpoint": p.url(pathIntrospect),
		"end_session_endpoint":   p.url(pathLogout),

		"scopes_supported":                              p.scopes,
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query"},
		"grant_types_supported":                         []string{grantCode, grantRefresh, grantClientCredentials, grantTokenExchange},
		"code_challenge_methods_supported":              []string{"S256"},
		"token_endpoint_auth_methods_supported":         []string{authBasic, authPost, authNone},
		"revocation_endpoint_auth_methods_supported":    []string{authBasic, authPost, authNone},
		"introspection_endpoint_auth_methods_supported": []string{authBasic, authPost},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         idTokenAlgs,
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid",
			"at_hash", "amr", "preferred_username", "email"},
		"prompt_values_supported":                        promptValues,
		"authorization_response_iss_parameter_supported": true,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		// The default of request_uri_parameter_supported is true, so say no.
		"request_uri_parameter_supported":       false,
		"client_id_metadata_document_supported": true,
	}
	if !p.DisableRegistration {
		m["registration_endpoint"] = p.url(pathRegister)
	}
	return m
}

func (p *Provider) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCached(w, p.metadata())
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	// Short caching: a rotated key must reach relying parties quickly,
	// and they refetch on an unknown kid anyway.
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(p.Keys.JWKS())
}
