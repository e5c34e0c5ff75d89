// Signs in to Gatehouse in Debian's Chromium, driven by Playwright, the way
// a person does: from an authorization URL it types a wrong password, then
// the right one, then answers the consent page, and reports what each page
// showed and where the browser landed. The Go test decides what it must say.
//
//   node pages/signin.mjs
// with AUTH_URL (the authorization URL), REDIRECT_PREFIX (the client's
// redirect URI: the run ends when the browser reaches it), USERNAME,
// PASSWORD, WRONG_PASSWORD, DECISION ("allow" or "deny") and CHROMIUM (the
// browser's path). It prints one JSON line.

import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  // As root in a container Chromium has no sandbox; and it must not
  // reach for the network beyond this machine's loopback.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const out = {};
try {
  const page = await browser.newPage();
  // What the page itself would run (an injected script would call these).
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  // The sign-in page: a wrong password first.
  await page.goto(env("AUTH_URL"));
  out.login_title = await page.title();
  await page.fill("#username", env("USERNAME"));
  await page.fill("#password", env("WRONG_PASSWORD"));
  await Promise.all([page.waitForLoadState("load"), page.click("form button[type=submit]")]);
  await page.waitForSelector("#password");
  out.after_wrong = await page.locator("main").innerText();
  out.after_wrong_username = await page.inputValue("#username");

  // The right one.
  await page.fill("#password", env("PASSWORD"));
  await Promise.all([page.waitForLoadState("load"), page.click("form button[type=submit]")]);
  await page.waitForSelector("button[name=decision]");
  out.consent = await page.locator("main").innerText();
  out.consent_images = await page.locator("img").count();

  // The decision, then the client's redirect.
  const prefix = env("REDIRECT_PREFIX");
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(prefix)),
    page.click(`button[name=decision][value=${env("DECISION")}]`),
  ]);
  out.landed = page.url();
  out.dialogs = dialogs;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
