// openid-client v6 (a certified relying party) signs a person in to
// Gatehouse: discovery, authorization code + PKCE (S256) with state and
// nonce, the RFC 9207 iss check, ID token signature (JWKS, via
// enableNonRepudiationChecks) and claims, userinfo. Then jose verifies the
// ID token and the access token (RFC 9068) against the issuer's JWKS.
//
// Env: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD SCOPE
// [ID_TOKEN_ALG: the client's id_token_signed_response_alg, RS256 when unset;
// both libraries accept the ID token only when it is signed with it]
// Prints one JSON line; exits non-zero when a library refuses something.
import * as client from 'openid-client';
import * as jose from 'jose';
import { Browser, b64json, env, out } from './browser.mjs';

const issuer = env('ISSUER'), clientId = env('CLIENT_ID'), redirectURI = env('REDIRECT_URI');
const scope = env('SCOPE');
const idTokenAlg = process.env.ID_TOKEN_ALG || 'RS256';

const config = await client.discovery(new URL(issuer), clientId, { id_token_signed_response_alg: idTokenAlg },
  client.ClientSecretBasic(env('CLIENT_SECRET')),
  { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] });
const meta = config.serverMetadata();

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState(), nonce = client.randomNonce();
const authURL = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectURI, scope, state, nonce,
  code_challenge: challenge, code_challenge_method: 'S256',
});

const browser = new Browser();
const callback = new URL(await browser.signIn(authURL.href, redirectURI,
  { username: env('USERNAME'), password: env('PASSWORD') }));

// authorizationCodeGrant checks state and iss of the callback, sends the
// verifier, and validates the ID token (signature, iss, aud, exp, nonce).
const tokens = await client.authorizationCodeGrant(config, callback,
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

// jose, independently: both tokens against the published keys.
const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
const id = await jose.jwtVerify(tokens.id_token, jwks,
  { issuer, audience: clientId, algorithms: [idTokenAlg], requiredClaims: ['sub', 'iat', 'exp', 'nonce'] });
const at = await jose.jwtVerify(tokens.access_token, jwks,
  { issuer, audience: `${issuer}/mcp`, typ: 'at+jwt', requiredClaims: ['sub', 'client_id', 'jti', 'iat', 'exp'] });

// at_hash (OpenID Connect Core §3.1.3.6): left half of the alg's hash
// (SHA-256 for RS256, SHA-512 for EdDSA over Ed25519), base64url.
const hashAlg = { RS256: 'SHA-256', EdDSA: 'SHA-512' }[idTokenAlg];
const digest = new Uint8Array(await crypto.subtle.digest(hashAlg, new TextEncoder().encode(tokens.access_token)));
const atHash = Buffer.from(digest.slice(0, digest.length / 2)).toString('base64url');

out({
  issuer: meta.issuer,
  callback: {
    iss: callback.searchParams.get('iss'),
    state_ok: callback.searchParams.get('state') === state,
    has_code: callback.searchParams.has('code'),
  },
  steps: browser.steps,
  set_cookies: browser.cookies,
  token_type: tokens.token_type,
  scope: tokens.scope,
  expires_in: tokens.expires_in,
  has_refresh_token: tokens.refresh_token !== undefined,
  id_token: {
    header: b64json(tokens.id_token.split('.')[0]),
    claims,
    nonce_ok: claims.nonce === nonce,
    at_hash_ok: claims.at_hash === atHash,
    jose: { alg: id.protectedHeader.alg, sub: id.payload.sub },
  },
  access_token: {
    header: at.protectedHeader,
    claims: at.payload,
  },
  userinfo,
});
