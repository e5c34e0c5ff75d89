// A real OpenID provider (the oidc-provider package, with its development
// login and consent pages) for the federation test. It prints its issuer
// on the first line of stdout and serves until killed.
import http from 'node:http';
const { default: Provider } = await import(process.env.INTEROP_MODULES + '/oidc-provider/lib/index.js');

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'gatehouse', client_secret: 'up-secret', redirect_uris: [process.env.REDIRECT],
    grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups'], email: ['email', 'email_verified'] },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, preferred_username: id, email: `${id}@up.example`, email_verified: true, groups: ['Sales'] }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['federation-test-key'] },
});
server.on('request', provider.callback());
console.log(issuer);
