// A tool author's slip checks in JavaScript, from docs/slips.md alone,
// with jose for the JWS. Usage: node slips/jose.mjs FILE, where FILE holds
// {"issuer", "audience", "clientId", "secret", "slips": [{"token", "body"}]}.
// Prints {"kids": [the JWKS's kids], "reports": [one per slip]} on stdout.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// Step 1: RFC 8414 metadata, the well-known path before the issuer's path.
const iss = new URL(input.issuer);
const meta = await (await fetch(`${iss.origin}/.well-known/oauth-authorization-server${iss.pathname.replace(/\/$/, '')}`)).json();
const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
const kids = (await (await fetch(meta.jwks_uri)).json()).keys.map((k) => k.kid);

// The page's canonical JSON (RFC 8785): JSON.stringify writes strings as
// the page asks, String(n) numbers, and sort() compares UTF-16 code units.
function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');
const form = (s) => encodeURIComponent(s).replace(/%20/g, '+');

// Step 6: RFC 7662 with client_secret_basic, each part form-urlencoded.
async function introspect(token) {
  const r = await fetch(meta.introspection_endpoint, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(form(input.clientId) + ':' + form(input.secret)).toString('base64'),
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const reports = [];
for (const { token, body } of input.slips) {
  const rep = { header: decodeProtectedHeader(token), problems: [] };
  try {
    // Steps 2 to 4.
    const { payload } = await jwtVerify(token, jwks, {
      issuer: input.issuer,
      audience: input.audience,
      typ: 'gatehouse-slip+jwt',
      algorithms: ['EdDSA', 'RS256'],
      clockTolerance: 5,
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
    });
    rep.claims = payload;
    const details = payload.authorization_details;
    const call = Array.isArray(details) && details.length === 1 ? details[0] : {};
    if (typeof payload.aud !== 'string') rep.problems.push('aud is not one string');
    if (payload.exp - payload.iat > 60) rep.problems.push('lives longer than 60 s');
    if (call.type !== 'gatehouse_tool_call') rep.problems.push('not one gatehouse_tool_call detail');
    if (payload.scope !== 'tool:' + call.tool) rep.problems.push('scope does not name the tool');
    if (call.redeemer !== undefined && call.redeemer !== input.clientId) rep.problems.push('another redeemer');
    // Step 5.
    if (sha256(canonical(JSON.parse(body))) !== call.args_sha256) rep.problems.push('canonical body digest differs');
    if (sha256(body) !== call.args_sha256) rep.problems.push('raw body digest differs');
  } catch (e) {
    rep.problems.push(`jose: ${e.code || ''} ${e.message}`);
  }
  if (rep.problems.length === 0) {
    // Redeemed only once every check passed, then once more: a replay.
    rep.first = await introspect(token);
    rep.second = await introspect(token);
  }
  reports.push(rep);
}
console.log(JSON.stringify({ kids, reports }));
