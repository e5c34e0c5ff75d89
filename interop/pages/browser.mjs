// The browser an MCP client opens to sign a person in, as a real one:
// Debian's Chromium driven by Playwright. Given the authorization URL it
// signs in as MCP_E2E_USERNAME / MCP_E2E_PASSWORD on the sign-in page,
// allows on the consent page if one comes, and stops once the page is the
// client's own (its loopback callback, which the client serves), as a
// person would close the tab. It appends a JSON line about what happened
// to MCP_E2E_BROWSER_LOG. CHROMIUM is the browser's path.
//
//   node pages/browser.mjs AUTHORIZATION_URL

import { appendFileSync } from "node:fs";
import { chromium } from "playwright-core";

const log = (entry) => {
  const line = JSON.stringify({ time: new Date().toISOString(), browser: "chromium", ...entry }) + "\n";
  if (process.env.MCP_E2E_BROWSER_LOG) appendFileSync(process.env.MCP_E2E_BROWSER_LOG, line);
  else process.stderr.write(line);
};

const target = process.argv[2];
const issuer = new URL(target).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let code = 1;
try {
  const page = await browser.newPage();
  await page.goto(target);
  const pages = [];
  for (let step = 0; step < 6 && new URL(page.url()).origin === issuer; step++) {
    // Until the next page has begun: the client's callback answers once,
    // and may close as soon as it has the code.
    const click = (selector) => Promise.all([page.waitForNavigation({ waitUntil: "commit" }), page.click(selector)]);
    if (await page.locator("#password").count()) {
      pages.push("sign-in");
      await page.fill("#username", process.env.MCP_E2E_USERNAME);
      await page.fill("#password", process.env.MCP_E2E_PASSWORD);
      await click("form button[type=submit]");
    } else if (await page.locator("button[name=decision][value=allow]").count()) {
      pages.push("consent");
      await click("button[name=decision][value=allow]");
    } else {
      throw new Error(`no sign-in or consent form at ${page.url()}: ${(await page.locator("body").innerText()).slice(0, 300)}`);
    }
  }
  const landed = new URL(page.url());
  const body = await page.locator("body").innerText({ timeout: 5000 }).catch(() => "");
  log({ opened: target, pages, callback: landed.origin + landed.pathname, body: body.slice(0, 200),
    error: landed.searchParams.get("error") ?? undefined });
  code = landed.origin !== issuer && !landed.searchParams.get("error") ? 0 : 1;
} catch (err) {
  log({ opened: target, error: String(err?.stack ?? err) });
} finally {
  await browser.close();
}
process.exit(code);
