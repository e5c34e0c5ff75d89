// openid-client v6 for the grants without a browser redirect back to an
// app: client_credentials for a service client (and the refusal of a wrong
// secret), and RFC 8693 token exchange by which an agent client acts for a
// person who signed in through a web app. jose verifies every token issued.
//
// Env: ISSUER USERNAME PASSWORD
//      WEB_ID WEB_SECRET WEB_REDIRECT  (first-party web app alice signs in to)
//      SERVICE_ID SERVICE_SECRET       (client_credentials)
//      AGENT_ID AGENT_SECRET           (token exchange)
import * as client from 'openid-client';
import * as jose from 'jose';
import { Browser, env, out, outcome } from './browser.mjs';

const issuer = env('ISSUER');
const discover = (id, secret) => client.discovery(new URL(issuer), id, undefined,
  client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks.json`));
const verifyAT = async (tok) => {
  const { payload, protectedHeader } = await jose.jwtVerify(tok, jwks,
    { issuer, audience: `${issuer}/mcp`, typ: 'at+jwt' });
  return { header: protectedHeader, claims: payload };
};
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

// client_credentials.
const service = await discover(env('SERVICE_ID'), env('SERVICE_SECRET'));
const cc = await client.clientCredentialsGrant(service, {});
const ccResult = {
  token_type: cc.token_type, expires_in: cc.expires_in,
  has_refresh_token: cc.refresh_token !== undefined, has_id_token: cc.id_token !== undefined,
  access_token: await verifyAT(cc.access_token),
};
const wrongSecret = await outcome(async () =>
  client.clientCredentialsGrant(await discover(env('SERVICE_ID'), 'not-the-secret-at-all'), {}));

// A person's access token, from a sign-in at the web app.
const web = await discover(env('WEB_ID'), env('WEB_SECRET'));
const verifier = client.randomPKCECodeVerifier(), state = client.randomState();
const authURL = client.buildAuthorizationUrl(web, {
  redirect_uri: env('WEB_REDIRECT'), scope: 'openid profile', state,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
});
const callback = await new Browser().signIn(authURL.href, env('WEB_REDIRECT'),
  { username: env('USERNAME'), password: env('PASSWORD') });
const person = await client.authorizationCodeGrant(web, new URL(callback),
  { pkceCodeVerifier: verifier, expectedState: state });

// Token exchange: the agent acts for the person.
const agent = await discover(env('AGENT_ID'), env('AGENT_SECRET'));
const exchange = (cfg, subjectToken) => outcome(async () => {
  const r = await client.genericGrantRequest(cfg, TE, { subject_token: subjectToken, subject_token_type: AT });
  return { token_type: r.token_type, expires_in: r.expires_in, issued_token_type: r.issued_token_type, scope: r.scope,
    has_refresh_token: r.refresh_token !== undefined, has_id_token: r.id_token !== undefined,
    access_token: await verifyAT(r.access_token) };
});

out({
  client_credentials: ccResult,
  wrong_secret: wrongSecret,
  exchange: await exchange(agent, person.access_token),
  // Refusals: only agent clients act for people, and only for a person's token.
  exchange_by_web_app: await exchange(web, person.access_token),
  exchange_of_service_token: await exchange(agent, cc.access_token),
});
