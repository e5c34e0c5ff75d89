// The official TypeScript MCP SDK's OAuth client, auth(): protected resource
// metadata → authorization server metadata → dynamic registration → PKCE →
// consent → token with the resource indicator.
import { signIn } from './browser.mjs';
const { auth } = await import(process.env.INTEROP_MODULES + '/@modelcontextprotocol/sdk/dist/esm/client/auth.js');

const serverUrl = process.env.ISSUER + '/mcp';
const redirect = process.env.REDIRECT;
class Provider {
  get redirectUrl() { return redirect; }
  get clientMetadata() {
    return { redirect_uris: [redirect], token_endpoint_auth_method: 'none', client_name: 'MCP SDK peer',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
  }
  state() { return 'sdk-state'; }
  clientInformation() { return this.client; }
  saveClientInformation(c) { this.client = c; }
  tokens() { return this.saved; }
  saveTokens(t) { this.saved = t; }
  redirectToAuthorization(u) { this.authURL = u; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}
const p = new Provider();
const first = await auth(p, { serverUrl });
const callback = await signIn(p.authURL.href, redirect, 'alice', 'correct horse');
const cb = new URL(callback);
const second = await auth(p, { serverUrl, authorizationCode: cb.searchParams.get('code') });
const claims = JSON.parse(Buffer.from(p.saved.access_token.split('.')[1], 'base64url'));
// A refresh, as the SDK does when the access token expires.
const before = p.saved.refresh_token;
const third = await auth(p, { serverUrl });
console.log(JSON.stringify({ first, second, third, aud: claims.aud, sub: claims.sub,
  registered: claims.client_id === p.client.client_id, resourceSent: p.authURL.searchParams.get('resource'),
  refreshed: typeof p.saved.refresh_token === 'string' && p.saved.refresh_token !== before }));
