// Layer's own Web SDK (layer-websdk 3.4.18, from the npm registry), loaded
// in headless Chromium from a page of another origin and pointed at the
// authority: it must authenticate, load its user's identity and log out,
// ending the session on the server. The page's origin is allowed through
// the admin API, as an app's operator would do; the page's backend (a
// small server here) gets identity tokens from the identity service.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createRequire } from "node:module";

import { build } from "esbuild";

import { admin, launchChromium, screenshot, startTessera, watch, writeArtifact } from "./harness.mjs";

const require = createRequire(import.meta.url);

/** Layer's SDK as one browser script defining `window.layer`. */
async function bundleWebSdk() {
  const out = await build({
    entryPoints: [require.resolve("layer-websdk")],
    bundle: true,
    format: "iife",
    globalName: "layer",
    platform: "browser",
    define: { global: "globalThis" },
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0].text;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Layer Web SDK against Tessera</title>
<script src="/layer.js"></script><script src="/app.js"></script></head>
<body><h1>Layer Web SDK</h1><pre id="state">starting</pre></body></html>`;

/** The page's script: Layer's documented flow, nothing Tessera-specific. */
const APP = `
const params = new URLSearchParams(location.search);
const client = new layer.Client({
  appId: params.get("app"),
  url: params.get("authority"),
  websocketUrl: "ws://127.0.0.1:9",
});
window.result = { events: [] };
const state = (s) => { document.getElementById("state").textContent = s; };
client.on("challenge", (evt) => {
  window.result.events.push("challenge");
  fetch("/identity-token?nonce=" + encodeURIComponent(evt.nonce))
    .then((r) => r.json())
    .then((body) => evt.callback(body.identity_token));
});
client.on("authenticated", () => { window.result.events.push("authenticated"); });
client.on("authenticated-error", (e) => { window.result.events.push("authenticated-error"); window.result.error = JSON.stringify(e.error); });
client.on("ready", () => {
  window.result.events.push("ready");
  window.result.ready = true;
  window.result.sessionToken = client.sessionToken;
  window.result.user = {
    userId: client.user.userId,
    displayName: client.user.displayName,
    isFullIdentity: client.user.isFullIdentity,
    url: client.user.url,
  };
  state("ready: " + client.user.displayName);
});
window.logout = () => new Promise((resolve) => client.logout(() => { window.result.loggedOut = true; state("logged out"); resolve(); }));
client.connect(params.get("user"));
`;

/** The web app's own server: the page, the SDK, and its backend's token endpoint. */
async function startAppServer(stack, user, sdk) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://app");
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/") return send(200, "text/html; charset=utf-8", PAGE);
    if (url.pathname === "/layer.js") return send(200, "text/javascript", sdk);
    if (url.pathname === "/app.js") return send(200, "text/javascript", APP);
    if (url.pathname === "/identity-token") {
      const answer = await fetch(`${stack.identity}/identity_tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ nonce: url.searchParams.get("nonce"), username: user.username, password: user.password }),
      });
      return send(answer.status, "application/json", await answer.text());
    }
    send(404, "text/plain", "not found");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

test("Layer's Web SDK authenticates, loads its user's identity and logs out against the authority", { timeout: 180_000 }, async () => {
  const stack = await startTessera();
  const [user] = stack.users;
  const app = await startAppServer(stack, user, await bundleWebSdk());
  const browser = await launchChromium();
  try {
    // The operator lists the web app's origin for the app.
    const listed = await admin(stack, "PATCH", `/admin/apps/${encodeURIComponent(stack.appId)}`, {
      allowed_origins: [app.origin],
    });
    assert.equal(listed.status, 200);
    assert.notEqual(app.origin, new URL(stack.authority).origin);

    const page = await browser.newPage();
    const seen = watch(page);
    const answers = [];
    page.on("response", (r) => answers.push({ method: r.request().method(), url: r.url(), status: r.status() }));
    const query = new URLSearchParams({ app: stack.appId, authority: stack.authority, user: user.username });
    await page.goto(`${app.origin}/?${query}`);
    await page.waitForFunction(() => window.result && (window.result.ready || window.result.error), null, {
      timeout: 30_000,
    });
    const result = await page.evaluate(() => window.result);
    assert.equal(result.error, undefined, `authentication failed: ${result.error}`);
    assert.deepEqual(result.events.slice(0, 3), ["challenge", "authenticated", "ready"]);
    assert.equal(result.user.userId, user.username);
    assert.equal(result.user.displayName, user.name);
    assert.equal(result.user.isFullIdentity, true, "the identity was loaded from the authority");
    assert.equal(result.user.url, `${stack.authority}/identities/${user.username}`);
    const loaded = answers.find((a) => a.method === "GET" && a.url === `${stack.authority}/identities/${user.username}`);
    assert.equal(loaded?.status, 200, JSON.stringify(answers, null, 1));
    await screenshot(page, "layer-websdk-ready");

    // The session works from outside the browser until the SDK logs out.
    const me = () =>
      fetch(`${stack.authority}/identities/me`, {
        headers: { authorization: `Layer session-token="${result.sessionToken}"` },
      });
    assert.equal((await me()).status, 200);
    await page.evaluate(() => window.logout());
    await page.waitForFunction(
      (prefix) => performance.getEntriesByType("resource").some((e) => e.name.startsWith(prefix)),
      `${stack.authority}/sessions/`,
      { timeout: 10_000 },
    );
    const deadline = Date.now() + 10_000;
    let deleted;
    while (!(deleted = answers.find((a) => a.method === "DELETE")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(deleted?.status, 204, JSON.stringify(answers, null, 1));
    const after = await me();
    assert.equal(after.status, 401, "the session ended on the server");
    assert.equal((await after.json()).id, "authentication_required");

    writeArtifact(
      "layer-websdk-requests.txt",
      answers.map((a) => `${a.status} ${a.method} ${a.url.replace(result.sessionToken, "{session_token}")}`).join("\n"),
    );
    const corsProblems = seen.console.filter((l) => /CORS|Access-Control/i.test(l));
    assert.deepEqual(corsProblems, []);
  } catch (error) {
    console.error(stack.log.join("").slice(-4000));
    throw error;
  } finally {
    await browser.close();
    app.server.close();
    stack.stop();
  }
});
