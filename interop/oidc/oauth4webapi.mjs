// oauth4webapi (strict, spec-by-spec validators) signs a person in to
// Gatehouse as a public native client that is not first-party, so the
// consent page is part of the flow: processDiscoveryResponse,
// validateAuthResponse (state and RFC 9207 iss), processAuthorizationCode-
// Response (ID token claims and nonce), processUserInfoResponse. jose checks
// the ID token's signature (oauth4webapi leaves that to TLS). Then refresh
// token rotation: one refresh works; replaying the old token is refused and
// revokes the family, so the new token is refused too.
//
// Env: ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD SCOPE
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { Browser, env, out, outcome } from './browser.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(env('ISSUER')), redirectURI = env('REDIRECT_URI');
const client = { client_id: env('CLIENT_ID') };
const auth = oauth.None();

const as = await oauth.processDiscoveryResponse(issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));

const verifier = oauth.generateRandomCodeVerifier();
const challenge = await oauth.calculatePKCECodeChallenge(verifier);
const state = oauth.generateRandomState(), nonce = oauth.generateRandomNonce();
const authURL = new URL(as.authorization_endpoint);
for (const [k, v] of Object.entries({
  client_id: client.client_id, redirect_uri: redirectURI, response_type: 'code', scope: env('SCOPE'),
  state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
})) authURL.searchParams.set(k, v);

const browser = new Browser();
const creds = { username: env('USERNAME'), password: env('PASSWORD') };
const callback = new URL(await browser.signIn(authURL.href, redirectURI, creds));
const firstSteps = browser.steps.splice(0);

const params = oauth.validateAuthResponse(as, client, callback, state);
const tokens = await oauth.processAuthorizationCodeResponse(as, client,
  await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectURI, verifier, insecure),
  { expectedNonce: nonce, requireIdToken: true });
const claims = oauth.getValidatedIdTokenClaims(tokens);
const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub,
  await oauth.userInfoRequest(as, client, tokens.access_token, insecure));

const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
const id = await jose.jwtVerify(tokens.id_token, jwks, { issuer: as.issuer, audience: client.client_id, algorithms: ['RS256'] });
const at = await jose.jwtVerify(tokens.access_token, jwks, { issuer: as.issuer, audience: `${as.issuer}/mcp`, typ: 'at+jwt' });

// The same browser again: the session and the consent are remembered, so
// the authorization answers at once with a code.
const again = new URL(await browser.signIn(authURL.href, redirectURI, creds));
const secondSteps = browser.steps.splice(0);

// Refresh token rotation and family revocation.
const refresh = (rt) => outcome(async () => {
  const r = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, auth, rt, insecure));
  return { access_token: r.access_token, refresh_token: r.refresh_token, token_type: r.token_type, scope: r.scope };
});
const userinfoWith = (tok) => outcome(() => oauth.userInfoRequest(as, client, tok, insecure)
  .then((res) => oauth.processUserInfoResponse(as, client, claims.sub, res)));

const rt0 = tokens.refresh_token;
const first = await refresh(rt0);
const rotated = first.ok && first.value.refresh_token !== undefined && first.value.refresh_token !== rt0;
const userinfoAfterRefresh = first.ok ? await userinfoWith(first.value.access_token) : undefined;
const replay = await refresh(rt0);
const afterReplay = first.ok ? await refresh(first.value.refresh_token) : undefined;
const userinfoAfterReplay = first.ok ? await userinfoWith(first.value.access_token) : undefined;
if (first.ok) delete first.value.access_token, delete first.value.refresh_token;

out({
  steps: firstSteps,
  callback_iss: callback.searchParams.get('iss'),
  token_type: tokens.token_type,
  scope: tokens.scope,
  has_refresh_token: typeof rt0 === 'string',
  id_token: { claims, alg: id.protectedHeader.alg },
  access_token: { header: at.protectedHeader, claims: at.payload },
  userinfo,
  second: { steps: secondSteps, has_code: again.searchParams.has('code') },
  refresh: { first, rotated, userinfo_after_refresh: userinfoAfterRefresh, replay, after_replay: afterReplay,
    userinfo_after_replay: userinfoAfterReplay },
});
