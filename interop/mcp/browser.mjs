// A headless "browser" for Gatehouse's sign-in: it follows an authorization
// URL through the login form and the consent form with fetch and a cookie
// jar, the way a person would click through them, until the authorization
// server redirects to the client.
//
// As a module: signIn(url, {username, password}) returns that redirect (a
// URL; the code and state are in its query) without following it.
//
// As a program (the fake browser the e2e tests give mcp-remote):
//   node browser.mjs AUTHORIZATION_URL
// signs in as MCP_E2E_USERNAME / MCP_E2E_PASSWORD, then GETs the redirect,
// which is the client's own loopback callback, and appends a JSON line about
// what happened to MCP_E2E_BROWSER_LOG (stdout is not seen by anyone when a
// client launches a browser).

import { appendFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** A cookie jar for one origin's host-only cookies: name -> value. */
class Jar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(-\d+|0)\s*$/i.test(a));
      if (expired || value === "") this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const entities = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeHTML(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e) => {
    if (e[0] === "#") {
      const n = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(n);
    }
    return entities[e.toLowerCase()] ?? m;
  });
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*"([^"]*)"`, "i"));
  return m ? unescapeHTML(m[1]) : undefined;
}

/** The page's first form: its action and its hidden fields. */
function parseForm(html, base) {
  const form = html.match(/<form\b[^>]*>/i);
  if (!form) return undefined;
  const fields = new URLSearchParams();
  for (const [input] of html.matchAll(/<input\b[^>]*>/gi)) {
    if ((attr(input, "type") ?? "").toLowerCase() === "hidden") {
      fields.append(attr(input, "name"), attr(input, "value") ?? "");
    }
  }
  return { action: new URL(attr(form[0], "action") ?? base, base), fields };
}

/**
 * Signs in at an authorization URL and returns the redirect to the client
 * (a URL on another origin than the authorization server's).
 */
export async function signIn(authorizationURL, { username, password, decision = "allow", maxSteps = 12 }) {
  const start = new URL(authorizationURL);
  const jar = new Jar();
  const trail = [];
  let url = start;
  let init = { method: "GET" };
  for (let i = 0; i < maxSteps; i++) {
    const headers = { ...(init.headers ?? {}) };
    const cookies = jar.header();
    if (cookies) headers.cookie = cookies;
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    jar.store(response);
    trail.push(`${init.method} ${url.pathname} -> ${response.status}`);
    if (response.status >= 300 && response.status < 400) {
      const location = new URL(response.headers.get("location"), url);
      await response.arrayBuffer();
      if (location.origin !== start.origin) return location;
      url = location;
      init = { method: "GET" };
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) {
      throw new Error(`sign-in: ${init.method} ${url} answered ${response.status}: ${html.slice(0, 500)} (${trail.join(", ")})`);
    }
    const form = parseForm(html, url);
    if (!form) throw new Error(`sign-in: no form at ${url}: ${html.slice(0, 500)}`);
    const body = form.fields;
    if (/<input\b[^>]*type="password"/i.test(html)) {
      if (/class="error"/.test(html) && i > 0 && init.method === "POST") {
        throw new Error(`sign-in: the login form refused ${username}: ${html.match(/class="error"[^>]*>([^<]*)/)?.[1]}`);
      }
      body.set("username", username);
      body.set("password", password);
    } else if (/name="decision"/.test(html)) {
      body.set("decision", decision);
    } else {
      throw new Error(`sign-in: unexpected form at ${url}: ${html.slice(0, 500)}`);
    }
    url = form.action;
    init = { method: "POST", body: body.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } };
  }
  throw new Error(`sign-in: no redirect to the client after ${maxSteps} steps (${trail.join(", ")})`);
}

async function main() {
  const log = (entry) => {
    const line = JSON.stringify({ time: new Date().toISOString(), ...entry }) + "\n";
    if (process.env.MCP_E2E_BROWSER_LOG) appendFileSync(process.env.MCP_E2E_BROWSER_LOG, line);
    else process.stderr.write(line);
  };
  const target = process.argv[2];
  try {
    const callback = await signIn(target, {
      username: process.env.MCP_E2E_USERNAME,
      password: process.env.MCP_E2E_PASSWORD,
    });
    // Deliver the code as the browser would: GET the client's callback.
    const response = await fetch(callback, { redirect: "manual" });
    const text = await response.text();
    log({ opened: target, callback: callback.origin + callback.pathname, status: response.status, body: text.slice(0, 200),
      error: callback.searchParams.get("error") ?? undefined });
    process.exit(response.status < 400 ? 0 : 1);
  } catch (err) {
    log({ opened: target, error: String(err?.stack ?? err) });
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await main();
}
