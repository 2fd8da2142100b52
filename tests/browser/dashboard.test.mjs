// The developer dashboard of `tessera up` in headless Chromium: sign in,
// create an app, generate a key in the browser, sign a token with it from
// the CLI, validate it (and a tampered one), open and end a user's
// sessions, revoke the key, read the audit trail, sign out; and changes
// from another origin or without the CSRF token refused.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";

import { admin, launchChromium, screenshot, startTessera, watch } from "./harness.mjs";

const TIMEOUT = 20_000;
const enc = encodeURIComponent;

/** Opens a dashboard page and waits until its script has drawn it. */
async function open(page, url) {
  await page.goto(url);
  await ready(page);
}

async function ready(page) {
  await page.waitForSelector("body[data-ready]", { timeout: TIMEOUT });
  const state = await page.getAttribute("body", "data-ready");
  assert.equal(state, "true", `the page failed to draw: ${await page.textContent("#content")}`);
}

/** Every visible control has a label a screen reader announces. */
async function assertLabelled(page, name) {
  const unlabelled = await page.$$eval("input, select, textarea, button", (controls) =>
    controls
      .filter((c) => c.type !== "hidden")
      .filter((c) => {
        if (c.tagName === "BUTTON") return !(c.getAttribute("aria-label") || c.textContent.trim());
        return !(c.labels?.length || c.getAttribute("aria-label"));
      })
      .map((c) => c.outerHTML));
  assert.deepEqual(unlabelled, [], `unlabelled controls on ${name}`);
}

function tessera(...args) {
  return execFileSync(process.env.TESSERA_BIN, args, { encoding: "utf8" }).trim();
}

async function nonce(stack, appId) {
  const r = await fetch(`${stack.authority}/nonces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: appId }),
  });
  assert.equal(r.status, 201);
  return (await r.json()).nonce;
}

function b64url(text) {
  return Buffer.from(text).toString("base64url");
}

async function validate(page, token) {
  await page.fill("#validate-form textarea[name=identity_token]", token);
  await page.click("#validate-form button[type=submit]");
  await page.waitForSelector("#verdict", { timeout: TIMEOUT });
  return {
    verdict: await page.textContent("#verdict"),
    findings: await page.$$eval(".checklist li", (items) =>
      items.map((li) => ({
        check: li.dataset.check,
        status: li.dataset.status,
        reason: li.querySelector(".reason")?.textContent ?? null,
        message: li.querySelector(".message").textContent,
        hint: li.querySelector(".hint")?.textContent ?? null,
      }))),
    header: await page.textContent(".grid2 div:nth-child(1) pre"),
    claims: await page.textContent(".grid2 div:nth-child(2) pre"),
  };
}

async function confirm(page) {
  await page.waitForSelector("dialog[open]", { timeout: TIMEOUT });
  await page.click("dialog[open] button.danger");
}

test("the dashboard: apps, a browser-made key, the validation tool, users, the audit trail, sign-out", { timeout: 240_000 }, async () => {
  const stack = await startTessera();
  const browser = await launchChromium();
  const work = mkdtempSync(join(tmpdir(), "tessera-dashboard-"));
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.authority });
    const page = await context.newPage();
    const seen = watch(page);
    const bodies = [];
    page.on("request", (r) => bodies.push(r.postData() ?? ""));
    const dashboard = `${stack.authority}/dashboard`;

    // Sign in from the keyboard: a wrong token first.
    await open(page, dashboard);
    assert.equal(new URL(page.url()).pathname, "/dashboard/sign-in");
    await assertLabelled(page, "sign-in");
    await screenshot(page, "dashboard-sign-in");
    await page.keyboard.type("not-the-admin-token-at-all");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#sign-in-form .error", { timeout: TIMEOUT });
    assert.match(await page.textContent("#sign-in-form .error"), /access_denied/);
    await page.focus("#sign-in-form input[name=secret]");
    await page.keyboard.type(stack.admin);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${dashboard}/apps`, { timeout: TIMEOUT });
    await ready(page);
    const cookies = await context.cookies(stack.authority);
    const session = cookies.find((c) => c.name === "tessera_dashboard");
    assert.ok(session, "the sign-in cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read the cookie");
    const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
    assert.ok(csrf.length >= 32);
    await assertLabelled(page, "apps");
    await screenshot(page, "dashboard-apps");

    // Create a production app; copy its ids.
    await page.fill("#create-app-form input[name=name]", "Browser app");
    await page.selectOption("#create-app-form select[name=environment]", "production");
    await page.click("#create-app-form button[type=submit]");
    await page.waitForURL(/\/dashboard\/apps\/layer/, { timeout: TIMEOUT });
    await ready(page);
    const appId = await page.textContent('code[data-copy="app id"]');
    const providerId = await page.textContent('code[data-copy="provider id"]');
    assert.match(appId, /^layer:\/\/\/apps\/production\//);
    assert.match(providerId, /^layer:\/\/\/providers\//);
    await page.click('button[aria-label="Copy the app id"]');
    await page.waitForFunction(() => document.querySelector("#status").textContent === "Copied the app id.", null, { timeout: TIMEOUT });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), appId);
    await assertLabelled(page, "app");

    // The session lifetime.
    await page.fill("#session-lifetime-form input[name=session_ttl_secs]", "86400");
    await page.click("#session-lifetime-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#session-lifetime")?.textContent.startsWith("1 day"), null, { timeout: TIMEOUT });
    await ready(page);
    await screenshot(page, "dashboard-app");

    // A key pair made in the browser; only the public key is sent.
    await page.click("#generate-key-form button[type=submit]");
    await page.waitForSelector("#private-key-download", { timeout: TIMEOUT });
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#private-key-download")]);
    const keyFile = join(work, download.suggestedFilename());
    await download.saveAs(keyFile);
    const privatePem = readFileSync(keyFile, "utf8");
    assert.match(privatePem, /^-----BEGIN PRIVATE KEY-----\n/);
    const kid = await page.textContent("#generated code");
    assert.match(kid, /^layer:\/\/\/keys\//);
    await screenshot(page, "dashboard-app-key-generated");
    assert.ok(bodies.some((b) => b.includes("BEGIN PUBLIC KEY")), "the public key was registered");
    assert.ok(!bodies.some((b) => b.includes("PRIVATE KEY")), "the private key never left the browser");
    const registered = await (await admin(stack, "GET", `/admin/apps/${enc(appId)}`)).json();
    assert.deepEqual(registered.keys.map((k) => [k.kid, k.status]), [[kid, "active"]]);
    assert.equal(registered.session_ttl_secs, 86400);

    // A token signed with that key from the CLI: valid.
    const nce = await nonce(stack, appId);
    const token = tessera("token", "sign", "--key", keyFile, "--kid", kid, "--provider-id", providerId, "--user", "ada", "--nonce", nce);
    await open(page, `${dashboard}/validate?app_id=${enc(appId)}`);
    await assertLabelled(page, "validate");
    let report = await validate(page, token);
    assert.match(report.verdict, /^Valid/);
    assert.ok(report.findings.length >= 8);
    assert.deepEqual(report.findings.filter((f) => f.status === "fail"), []);
    assert.equal(report.findings.find((f) => f.check === "signature").status, "pass");
    assert.match(report.claims, /"prn": "ada"/);
    await screenshot(page, "dashboard-validate-valid");

    // Tampered claims: invalid_signature, with the message, header and claims.
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const tampered = [h, b64url(JSON.stringify({ ...claims, prn: "mallory" })), s].join(".");
    report = await validate(page, tampered);
    assert.match(report.verdict, /^Invalid/);
    const signature = report.findings.find((f) => f.check === "signature");
    assert.equal(signature.status, "fail");
    assert.equal(signature.reason, "invalid_signature");
    assert.ok(signature.message.length > 10, signature.message);
    assert.match(report.header, /"alg": "RS256"/);
    assert.match(report.header, new RegExp(`"kid": "${kid}"`));
    assert.match(report.claims, /"prn": "mallory"/);
    await screenshot(page, "dashboard-validate-invalid");

    // A nonce that went through URL decoding: the hint says so.
    const decoded = tessera("token", "sign", "--key", keyFile, "--kid", kid, "--provider-id", providerId, "--user", "ada",
      "--nonce", `${(await nonce(stack, appId)).slice(0, 20)} ${"x".repeat(20)}`);
    report = await validate(page, decoded);
    const hinted = report.findings.find((f) => f.check === "nonce_format");
    assert.equal(hinted.status, "warn");
    assert.match(hinted.hint, /URL-decoded/);
    await screenshot(page, "dashboard-validate-hint");

    // Validating consumed nothing: the token opens a session.
    let r = await fetch(`${stack.authority}/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app_id: appId, identity_token: token }),
    });
    assert.equal(r.status, 201);
    const sessionToken = (await r.json()).session_token;
    const me = () => fetch(`${stack.authority}/identities/me`, { headers: { authorization: `Layer session-token="${sessionToken}"` } });
    assert.equal((await me()).status, 200);

    // The user: one open session; edit the identity; end the sessions.
    await open(page, `${dashboard}/users?app_id=${enc(appId)}&user_id=ada`);
    await page.waitForSelector("#sessions tbody tr", { timeout: TIMEOUT });
    assert.equal(await page.$$eval("#sessions tbody tr", (rows) => rows.length), 1);
    await assertLabelled(page, "users");
    await screenshot(page, "dashboard-users");
    await page.fill("#identity-form input[name=display_name]", "Ada L.");
    await page.fill("#identity-form input[name=email_address]", "ada@example.com");
    await page.click("#identity-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Saved the identity"), null, { timeout: TIMEOUT });
    const identity = await (await admin(stack, "GET", `/admin/apps/${enc(appId)}/identities/ada`)).json();
    assert.equal(identity.display_name, "Ada L.");
    assert.equal(identity.email_address, "ada@example.com");
    await page.click("#end-sessions");
    await confirm(page);
    await page.waitForSelector("#no-sessions", { timeout: TIMEOUT });
    r = await me();
    assert.equal(r.status, 401, "the ended session is refused by the API");
    assert.equal((await r.json()).id, "authentication_required");
    await page.click("#suspend");
    await confirm(page);
    await page.waitForFunction(() => document.querySelector("#user-status")?.textContent.startsWith("Suspended"), null, { timeout: TIMEOUT });
    await screenshot(page, "dashboard-users-suspended");
    await page.click("#lift");
    await page.waitForFunction(() => document.querySelector("#user-status")?.textContent.startsWith("Active"), null, { timeout: TIMEOUT });

    // Revoke the key, from the keyboard: Escape cancels, then confirm.
    await open(page, `${dashboard}/apps/${enc(appId)}`);
    const revoke = `button[aria-label="Revoke key ${kid}"]`;
    await page.focus(revoke);
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog[open]", { timeout: TIMEOUT });
    await screenshot(page, "dashboard-app-revoke-confirmation");
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog", { state: "detached", timeout: TIMEOUT });
    let keys = (await (await admin(stack, "GET", `/admin/apps/${enc(appId)}`)).json()).keys;
    assert.equal(keys[0].status, "active", "cancelling revokes nothing");
    await page.focus(revoke);
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog[open]", { timeout: TIMEOUT });
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Enter");
    await page.waitForSelector(`tr[data-kid="${kid}"] .badge.revoked`, { timeout: TIMEOUT });
    await ready(page);
    await screenshot(page, "dashboard-app-key-revoked");
    keys = (await (await admin(stack, "GET", `/admin/apps/${enc(appId)}`)).json()).keys;
    assert.equal(keys[0].status, "revoked");
    await open(page, `${dashboard}/validate?app_id=${enc(appId)}`);
    report = await validate(page, token);
    assert.match(report.verdict, /^Invalid/);
    assert.ok(report.findings.some((f) => f.status === "fail" && f.reason === "revoked_key"), JSON.stringify(report.findings));
    await screenshot(page, "dashboard-validate-revoked");

    // The audit trail, by user and by time.
    await open(page, `${dashboard}/audit?app_id=${enc(appId)}&user_id=ada`);
    await page.waitForSelector("#events tbody tr", { timeout: TIMEOUT });
    const actions = await page.$$eval("#events tbody tr", (rows) => rows.map((row) => row.dataset.action));
    assert.deepEqual(actions, ["session_opened", "identity_changed", "sessions_revoked", "user_suspended", "suspension_lifted"]);
    await assertLabelled(page, "audit");
    await screenshot(page, "dashboard-audit");
    await open(page, `${dashboard}/audit?app_id=${enc(appId)}`);
    await page.waitForSelector("#events tbody tr", { timeout: TIMEOUT });
    const all = await page.$$eval("#events tbody tr", (rows) => rows.map((row) => row.dataset.action));
    for (const action of ["app_created", "app_changed", "key_registered"]) assert.ok(all.includes(action), `${action} in ${all}`);
    // A key belongs to a provider, not to one app: its revocation is in the whole trail.
    await open(page, `${dashboard}/audit`);
    await page.waitForSelector('#events tbody tr[data-action="key_revoked"]', { timeout: TIMEOUT });
    await page.waitForSelector('#events tbody tr[data-action="dashboard_signed_in"]', { timeout: TIMEOUT });
    await open(page, `${dashboard}/audit?app_id=${enc(appId)}&until=2000-01-01T00:00:00Z`);
    await page.waitForFunction(() => document.querySelector(".actions .muted")?.textContent === "No event matches.", null, { timeout: TIMEOUT });

    // From another origin (the demo page, the same site), with the cookie:
    // refused, nothing created. Without the CSRF token from the dashboard: refused.
    const demo = await context.newPage();
    await demo.goto(stack.demo);
    await demo.evaluate(async (authority) => {
      await fetch(`${authority}/admin/apps`, {
        method: "POST", mode: "no-cors", credentials: "include",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ name: "forged", environment: "staging" }),
      }).catch(() => null);
    }, stack.authority);
    await demo.close();
    const forgedStatus = await page.evaluate(async () => (await fetch("/admin/apps", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "forged", environment: "staging" }),
    })).status);
    assert.equal(forgedStatus, 403);
    const names = (await (await admin(stack, "GET", "/admin/apps")).json()).apps.map((a) => a.name);
    assert.ok(!names.includes("forged"), `${names}`);

    // Sign out: every page and action refused, even with the old cookie.
    await page.click("#sign-out");
    await page.waitForURL(`${dashboard}/sign-in`, { timeout: TIMEOUT });
    for (const path of ["", "/apps", `/apps/${enc(appId)}`, "/validate", "/users", "/audit"]) {
      await page.goto(`${dashboard}${path}`);
      assert.equal(new URL(page.url()).pathname, "/dashboard/sign-in", `${path} after sign-out`);
    }
    const old = `tessera_dashboard=${session.value}`;
    for (const [method, path, body] of [
      ["GET", "/admin/apps"],
      ["POST", "/admin/apps", { name: "after sign-out", environment: "staging" }],
      ["DELETE", `/admin/apps/${enc(appId)}/users/ada/sessions`],
      ["GET", "/admin/audit"],
      ["POST", "/dashboard/sign-out"],
    ]) {
      const res = await fetch(`${stack.authority}${path}`, {
        method,
        headers: { cookie: old, "x-csrf-token": csrf, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        redirect: "manual",
      });
      assert.equal(res.status, 401, `${method} ${path} after sign-out`);
    }
    for (const path of ["/apps", "/users"]) {
      const res = await fetch(`${dashboard}${path}`, { headers: { cookie: old }, redirect: "manual" });
      assert.equal(res.status, 303);
    }

    // The admin token never appeared in a URL, a page or a log; no CSP violation.
    assert.ok(!seen.urls.some((u) => u.includes(stack.admin)), "admin token in a URL");
    assert.ok(!(await page.content()).includes(stack.admin));
    assert.ok(!stack.log.join("").includes(stack.admin), "admin token in the log");
    const violations = seen.console.filter((m) => /Content.Security.Policy|Refused to/i.test(m));
    assert.deepEqual(violations, []);
    const pageErrors = seen.console.filter((m) => m.startsWith("pageerror"));
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
