package e2e_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/e2e"
)

// A tenant-file client with id_token_signed_response_alg: EdDSA gets ID
// tokens signed EdDSA, which openid-client (told the client's algorithm,
// checking the signature against the JWKS) and jose accept, with at_hash
// over SHA-512. The same script with the default client expects RS256
// (TestOIDCOpenIDClient).
func TestOIDCOpenIDClientEdDSA(t *testing.T) {
	e2e.Node22(t)
	const secret = "eddsa-secret-0123456789abcdef01234"
	gh := e2e.Start(t, `
tenant: acme
users:
  - username: alice
    email: alice@acme.example
    password: "correct horse battery staple"
clients:
  - client_id: acme-ed
    kind: web
    secret: "`+secret+`"
    redirect_uris: ["http://127.0.0.1:9002/callback"]
    first_party: true
    id_token_signed_response_alg: EdDSA
`, nil)
	var got struct {
		IDToken oidcIDToken `json:"id_token"`
	}
	runOIDCPeer(t, gh, "openid_client.mjs", map[string]string{
		"CLIENT_ID": "acme-ed", "CLIENT_SECRET": secret, "REDIRECT_URI": "http://127.0.0.1:9002/callback",
		"USERNAME": oidcUser, "PASSWORD": oidcPassword, "SCOPE": "openid profile email", "ID_TOKEN_ALG": "EdDSA",
	}, &got)
	id := got.IDToken
	if id.Header["alg"] != "EdDSA" || id.Jose.Alg != "EdDSA" || id.Header["kid"] == nil {
		t.Errorf("ID token header %v (jose: %s): want EdDSA with a kid", id.Header, id.Jose.Alg)
	}
	if !id.NonceOK || !id.AtHashOK || id.Jose.Sub != oidcUser || id.Claims["aud"] != "acme-ed" {
		t.Errorf("ID token: nonce ok %v, at_hash ok %v, jose sub %q, aud %v", id.NonceOK, id.AtHashOK, id.Jose.Sub, id.Claims["aud"])
	}
}
