// A headless "browser" for the login and consent forms: plain fetch, a
// cookie jar, no JavaScript (the pages need none). It follows the provider's
// redirects until one leaves for the client's redirect URI, and returns it.
export async function signIn(startURL, redirectPrefix, username, password) {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i), value = pair.slice(i + 1);
      if (/max-age=-1|max-age=0/i.test(c) || value === '') jar.delete(name); else jar.set(name, value);
    }
  };
  const field = (html, name) => {
    const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
    return m ? m[1].replaceAll('&amp;', '&').replaceAll('&#43;', '+').replaceAll('&#34;', '"').replaceAll('&#39;', "'") : undefined;
  };
  let url = startURL, method = 'GET', body;
  for (let i = 0; i < 10; i++) {
    const res = await fetch(url, {
      method, body, redirect: 'manual',
      headers: { cookie: cookieHeader(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    });
    keep(res);
    if (res.status === 303 || res.status === 302) {
      const next = new URL(res.headers.get('location'), url).href;
      if (next.startsWith(redirectPrefix)) return next;
      url = next; method = 'GET'; body = undefined;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${html.slice(0, 300)}`);
    const form = new URLSearchParams();
    if (html.includes('name="password"')) {
      form.set('csrf', field(html, 'csrf'));
      for (const k of ['authz', 'next']) if (field(html, k) !== undefined) form.set(k, field(html, k));
      form.set('username', username); form.set('password', password);
      url = html.match(/action="([^"]+)"/)[1];
    } else if (html.includes('name="decision"')) {
      form.set('csrf', field(html, 'csrf')); form.set('authz', field(html, 'authz')); form.set('decision', 'allow');
      url = html.match(/action="([^"]+)"/)[1];
    } else {
      throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
    }
    method = 'POST'; body = form.toString();
  }
  throw new Error('too many steps');
}
