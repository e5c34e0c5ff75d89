// The official TypeScript MCP SDK as a client of Gatehouse's /mcp.
//
//   node ts-sdk-client.mjs MCP_URL USERNAME PASSWORD TOOL=ARGS_JSON...
//
// It connects with StreamableHTTPClientTransport and an OAuthClientProvider
// whose redirectToAuthorization signs in headlessly (browser.mjs). The SDK's
// own auth() does the rest: protected resource metadata, authorization server
// metadata, dynamic client registration, PKCE, the token request. Then it
// lists the tools and calls each TOOL with its arguments, and prints one JSON
// line: {client_id, scope, tools: [names], calls: {TOOL: {isError, text}}}.

import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { signIn } from "./browser.mjs";

const [mcpURL, username, password, ...callArgs] = process.argv.slice(2);
if (!mcpURL || !username || !password) {
  console.error("usage: ts-sdk-client.mjs MCP_URL USERNAME PASSWORD TOOL=ARGS_JSON...");
  process.exit(2);
}

// Nobody listens here: redirectToAuthorization reads the code off the
// redirect instead of following it, as a native app's callback would.
const redirectURL = "http://127.0.0.1:53682/callback";

class HeadlessProvider {
  #client;
  #tokens;
  #verifier;
  #state;
  code;
  events = [];

  get redirectUrl() {
    return redirectURL;
  }

  get clientMetadata() {
    return {
      client_name: "Gatehouse e2e (TypeScript MCP SDK)",
      redirect_uris: [redirectURL],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state() {
    this.#state = randomBytes(16).toString("base64url");
    return this.#state;
  }

  clientInformation() {
    return this.#client;
  }

  saveClientInformation(info) {
    this.events.push("registered");
    this.#client = info;
  }

  tokens() {
    return this.#tokens;
  }

  saveTokens(tokens) {
    this.events.push("tokens");
    this.#tokens = tokens;
  }

  async redirectToAuthorization(url) {
    this.events.push("authorize");
    if (url.searchParams.get("code_challenge_method") !== "S256") {
      throw new Error(`the SDK did not use PKCE S256: ${url}`);
    }
    const callback = await signIn(url, { username, password });
    const q = callback.searchParams;
    if (q.get("error")) throw new Error(`authorization failed: ${q.get("error")}: ${q.get("error_description")}`);
    if (q.get("state") !== this.#state) throw new Error(`state mismatch: sent ${this.#state}, got ${q.get("state")}`);
    this.code = q.get("code");
    this.iss = q.get("iss");
  }

  saveCodeVerifier(v) {
    this.#verifier = v;
  }

  codeVerifier() {
    return this.#verifier;
  }
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

const provider = new HeadlessProvider();
const client = new Client({ name: "gatehouse-e2e-ts-sdk", version: "1.0.0" });
const transport = () => new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider });

let t = transport();
try {
  await client.connect(t);
  throw new Error("connected without signing in: /mcp did not ask for a token");
} catch (err) {
  if (!(err instanceof UnauthorizedError)) throw err;
}
if (!provider.code) throw new Error("the SDK did not send the user to the authorization endpoint");
await t.finishAuth(provider.code);
t = transport();
try {
  await client.connect(t);
} catch (err) {
  // Say why /mcp refused the token the SDK just got, if it did.
  const token = provider.tokens()?.access_token;
  if (token) {
    const r = await fetch(mcpURL, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    console.error(`the token the SDK got, sent again now: ${r.status} ${r.headers.get("www-authenticate") ?? ""}`);
  }
  throw err;
}

const out = {
  server: client.getServerVersion()?.name,
  protocol: t.protocolVersion,
  client_id: provider.clientInformation()?.client_id,
  scope: provider.tokens()?.scope,
  iss: provider.iss,
  events: provider.events,
  tools: (await client.listTools()).tools.map((x) => x.name),
  calls: {},
};
for (const a of callArgs) {
  const eq = a.indexOf("=");
  const name = a.slice(0, eq);
  const result = await client.callTool({ name, arguments: JSON.parse(a.slice(eq + 1)) });
  out.calls[name] = { isError: !!result.isError, text: text(result) };
}
await client.close();
console.log(JSON.stringify(out));
