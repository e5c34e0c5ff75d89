// A headless "browser" for Gatehouse's sign-in pages, shared by the OIDC
// interop scripts: fetch with manual redirects, a cookie jar, no JavaScript
// (the pages need none). It follows redirects and fills the login and
// consent forms until a redirect leaves for the client's redirect_uri, and
// returns that Location without requesting it (nothing listens there).

const entities = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

// unescapeHTML decodes what html/template writes into attribute values.
export function unescapeHTML(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(n);
    }
    return entities[e.toLowerCase()] ?? m;
  });
}

// formOf returns the first form of a page: its action and its inputs
// (name → value, for inputs that carry a value attribute).
export function formOf(html, base) {
  const action = html.match(/<form[^>]*\saction="([^"]*)"/i);
  if (!action) return undefined;
  const fields = {};
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = m[0].match(/\sname="([^"]*)"/i);
    const value = m[0].match(/\svalue="([^"]*)"/i);
    if (name) fields[unescapeHTML(name[1])] = value ? unescapeHTML(value[1]) : '';
  }
  return { action: new URL(unescapeHTML(action[1]), base).href, fields };
}

export class Browser {
  constructor() {
    this.jar = new Map(); // cookie name → value (one host: the issuer)
    this.steps = [];      // {method, path, status, page} of every request
    this.cookies = [];    // every Set-Cookie header seen, for attribute checks
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  keep(res) {
    for (const c of res.headers.getSetCookie()) {
      this.cookies.push(c);
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
      if (/;\s*max-age=(-1|0)\b/i.test(c) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async request(url, method = 'GET', form) {
    const headers = { cookie: this.cookieHeader() };
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method, body, headers, redirect: 'manual' });
    this.keep(res);
    const html = res.status >= 300 && res.status < 400 ? '' : await res.text();
    const page = /name="password"/.test(html) ? 'login' : /name="decision"/.test(html) ? 'consent' : html ? 'other' : '';
    this.steps.push({ method, path: new URL(url).pathname, status: res.status, page });
    return { res, html, page, location: res.headers.get('location') };
  }

  // signIn starts at an authorization URL and returns the redirect to
  // redirectURI (a URL string, with code or error). consent is the button
  // to press on a consent page: 'allow' or 'deny'.
  async signIn(startURL, redirectURI, { username, password, consent = 'allow' }) {
    const target = new URL(redirectURI);
    const leaves = (u) => u.origin === target.origin && u.pathname === target.pathname ||
      // a loopback redirect may differ in port only
      u.protocol === target.protocol && u.hostname === target.hostname && u.pathname === target.pathname;
    let url = startURL, method = 'GET', form;
    for (let i = 0; i < 12; i++) {
      const { res, html, page, location } = await this.request(url, method, form);
      if (res.status >= 300 && res.status < 400) {
        if (!location) throw new Error(`${method} ${url}: ${res.status} without Location`);
        const next = new URL(location, url);
        if (leaves(next)) return next.href;
        url = next.href; method = 'GET'; form = undefined;
        continue;
      }
      if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${html.slice(0, 400)}`);
      const f = formOf(html, url);
      if (page === 'login') {
        if (!f.fields.csrf) throw new Error('login form without csrf');
        form = { ...f.fields, username, password };
      } else if (page === 'consent') {
        form = { ...f.fields, decision: consent };
      } else {
        throw new Error(`unexpected page at ${url}: ${html.slice(0, 400)}`);
      }
      url = f.action; method = 'POST';
    }
    throw new Error('too many steps before the redirect to the client');
  }
}

// b64json decodes one part of a compact JWS without verifying it.
export function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// out prints the result line the Go test reads.
export function out(v) {
  process.stdout.write(JSON.stringify(v) + '\n');
}

export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is required`);
  return v;
}

// outcome runs fn and describes how it ended, for the Go test to check: a
// refusal is an expected result there, not a failure of the script.
export async function outcome(fn) {
  try {
    const value = await fn();
    return { ok: true, value };
  } catch (e) {
    const r = { ok: false, name: e?.constructor?.name, message: String(e?.message ?? e) };
    if (e?.error !== undefined) r.error = e.error;
    if (e?.error_description !== undefined) r.error_description = e.error_description;
    if (e?.status !== undefined) r.status = e.status;
    if (e?.code !== undefined) r.code = e.code;
    if (Array.isArray(e?.cause)) r.challenges = e.cause.map((c) => ({ scheme: c.scheme, parameters: c.parameters }));
    // A challenge error (401 with WWW-Authenticate) leaves the body unread:
    // it still carries the RFC 6749 error.
    if (r.error === undefined && e?.response instanceof Response && !e.response.bodyUsed) {
      try {
        const body = await e.response.json();
        if (typeof body?.error === 'string') r.error = body.error;
      } catch { /* not JSON */ }
    }
    return r;
  }
}
