// Package identity is Gatehouse's OAuth 2.1 / OpenID Connect provider: the
// login form and sessions, consent, the authorization code flow with PKCE,
// the token endpoint (authorization_code, refresh_token with rotation,
// client_credentials, RFC 8693 token exchange), userinfo, revocation,
// introspection, RP-initiated logout, dynamic client registration and
// client ID metadata documents (and the removal of such clients nobody
// used), sign-in through upstream OpenID providers
// (federation), brute-force throttling, and the discovery documents that
// describe them.
//
// The protocol is written here on the standard library and internal/keys,
// not on an OP framework, because the provider needs what those lack or make
// awkward: RFC 8707 resources as audiences, RFC 9207 iss, at+jwt access
// tokens minted by accesstoken, token exchange with act, URL client IDs, and
// single use decided by the database so that it holds across replicas.
//
// It must never log or audit a secret (password, code, token, verifier,
// client secret, an upstream's secret or tokens): events carry usernames, client IDs, jti and session IDs.
// It must never redirect to a redirect URI that is not registered for the
// client, and it never keeps single-use or revocation state in process
// memory (the in-memory caches hold only what can be recomputed).
package identity
