// oauth4webapi (strict OAuth 2 / OIDC) against Gatehouse with a public
// client that must consent: discovery, PKCE, iss, ID token, userinfo.
import { signIn } from './browser.mjs';
const oauth = await import(process.env.INTEROP_MODULES + '/oauth4webapi/build/index.js');

const issuer = new URL(process.env.ISSUER);
const redirect = process.env.REDIRECT;
const opts = { [oauth.allowInsecureRequests]: true };
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: 'oidc' }));
const client = { client_id: 'native' };
const clientAuth = oauth.None();
const verifier = oauth.generateRandomCodeVerifier();
const challenge = await oauth.calculatePKCECodeChallenge(verifier);
const state = oauth.generateRandomState(), nonce = oauth.generateRandomNonce();
const url = new URL(as.authorization_endpoint);
for (const [k, v] of Object.entries({ client_id: 'native', redirect_uri: redirect, response_type: 'code',
  scope: 'openid email', code_challenge: challenge, code_challenge_method: 'S256', state, nonce })) url.searchParams.set(k, v);
const callback = await signIn(url.href, redirect, 'alice', 'correct horse');
const params = oauth.validateAuthResponse(as, client, new URL(callback), state);
const resp = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirect, verifier, opts);
const result = await oauth.processAuthorizationCodeResponse(as, client, resp, { expectedNonce: nonce, requireIdToken: true });
const claims = oauth.getValidatedIdTokenClaims(result);
const ui = await oauth.processUserInfoResponse(as, client, claims.sub,
  await oauth.userInfoRequest(as, client, result.access_token, opts));
const rev = await oauth.revocationRequest(as, client, clientAuth, result.refresh_token, opts);
await oauth.processRevocationResponse(rev);
console.log(JSON.stringify({ sub: claims.sub, email: ui.email }));
