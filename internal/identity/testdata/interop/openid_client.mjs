// openid-client v6 (a certified RP library) against Gatehouse: discovery,
// authorization code + PKCE with state and nonce, RFC 9207 iss, ID token
// signature and claims, userinfo, refresh.
import { signIn } from './browser.mjs';
const client = await import(process.env.INTEROP_MODULES + '/openid-client/build/index.js');

const issuer = new URL(process.env.ISSUER);
const redirect = process.env.REDIRECT;
const config = await client.discovery(issuer, 'web', 'web-secret', undefined,
  { execute: [client.allowInsecureRequests] });
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState(), nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirect, scope: 'openid profile email', code_challenge: challenge,
  code_challenge_method: 'S256', state, nonce,
});
const callback = await signIn(url.href, redirect, 'alice', 'correct horse');
const tokens = await client.authorizationCodeGrant(config, new URL(callback),
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
const claims = tokens.claims();
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const introspected = await client.tokenIntrospection(config, refreshed.access_token);
console.log(JSON.stringify({ sub: claims.sub, email: info.email, refreshedSub: refreshed.claims()?.sub,
  active: introspected.active }));
