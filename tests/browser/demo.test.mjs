// The demo page of `tessera up` in headless Chromium, served from its own
// origin: every call to the authority and the identity service crosses
// origins, under the browser's normal CORS rules.
import { test } from "node:test";
import assert from "node:assert/strict";

import { admin, launchChromium, screenshot, startTessera, watch } from "./harness.mjs";

const EVENT_TIMEOUT = 20_000;

async function events(page) {
  return page.$$eval("#events li", (items) => items.map((li) => `${li.dataset.event}: ${li.textContent}`));
}

/** Waits until the event log holds more than `before` entries named `name`. */
async function waitForEvent(page, name, before) {
  await page.waitForFunction(
    ([n, b]) => document.querySelectorAll(`#events li[data-event="${n}"]`).length > b,
    [name, before],
    { timeout: EVENT_TIMEOUT },
  );
}

async function count(page, name) {
  return page.$$eval(`#events li[data-event="${name}"]`, (items) => items.length);
}

async function signIn(page, user) {
  const before = await count(page, "authenticated");
  await page.fill("#username", user.username);
  await page.fill("#password", user.password);
  await page.click("#sign-in");
  await waitForEvent(page, "authenticated", before);
  await page.waitForFunction((name) => document.querySelector("#identity-name").textContent === name, user.name, {
    timeout: EVENT_TIMEOUT,
  });
}

async function signOut(page, keep) {
  const before = await count(page, "deauthenticated");
  await page.click(keep ? "#sign-out-keep" : "#sign-out-delete");
  await waitForEvent(page, "deauthenticated", before);
}

test("the demo page signs in, keeps or deletes local data, switches users and answers a re-challenge", { timeout: 180_000 }, async () => {
  const stack = await startTessera();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const seen = watch(page);
    const demoOrigin = new URL(stack.demo).origin;
    assert.notEqual(demoOrigin, new URL(stack.authority).origin);
    assert.notEqual(demoOrigin, new URL(stack.identity).origin);

    await page.goto(stack.demo);
    await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Ready"), null, {
      timeout: EVENT_TIMEOUT,
    });
    await screenshot(page, "demo-ready");
    const [ada, bob] = stack.users;

    // Sign in: challenge, identity token, session, identity.
    await signIn(page, ada);
    assert.equal(await page.textContent("#identity-user"), ada.username);
    assert.equal(await page.textContent("#identity-id"), `layer:///identities/${ada.username}`);
    const log = await events(page);
    const order = log.map((e) => e.split(":")[0]);
    assert.deepEqual(order.slice(0, 3), ["connected", "authentication-challenge", "authenticated"], log.join("\n"));
    await screenshot(page, "demo-signed-in");

    // Local data survives a deauthentication that keeps it.
    await page.fill("#note", "ada's note");
    await page.click("#save-note");
    assert.equal(await page.textContent("#saved-note"), "Saved note: ada's note");
    await signOut(page, true);
    assert.match((await events(page)).at(-1), /deauthenticated: .*local data kept/);
    assert.equal(await page.textContent("#identity-name"), "—");
    await signIn(page, ada);
    assert.equal(await page.textContent("#saved-note"), "Saved note: ada's note");

    // ... and not one that deletes it.
    await signOut(page, false);
    assert.match((await events(page)).at(-1), /deauthenticated: .*local data deleted/);
    await signIn(page, ada);
    assert.equal(await page.textContent("#saved-note"), "No saved note.");
    await page.fill("#note", "ada again");
    await page.click("#save-note");

    // A second user in the same browser: a switch keeps the first user's data apart.
    await signIn(page, bob);
    assert.equal(await page.textContent("#identity-user"), bob.username);
    assert.equal(await page.textContent("#saved-note"), "No saved note.", "bob must not see ada's note");
    await screenshot(page, "demo-second-user");

    // The operator ends bob's sessions: the next call is re-challenged and
    // the page answers it without asking the user.
    const ended = await admin(
      stack,
      "DELETE",
      `/admin/apps/${encodeURIComponent(stack.appId)}/users/${encodeURIComponent(bob.username)}/sessions`,
    );
    assert.equal(ended.status, 204);
    const challenges = await count(page, "authentication-challenge");
    const authenticated = await count(page, "authenticated");
    await page.click("#reload-identity");
    await waitForEvent(page, "authentication-challenge", challenges);
    await waitForEvent(page, "authenticated", authenticated);
    await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("Signed in as"), null, {
      timeout: EVENT_TIMEOUT,
    });
    assert.equal(await page.textContent("#identity-name"), bob.name);
    const user = await (
      await admin(stack, "GET", `/admin/apps/${encodeURIComponent(stack.appId)}/users/${encodeURIComponent(bob.username)}`)
    ).json();
    assert.equal(user.sessions.length, 1, "one new session after the re-challenge");
    await screenshot(page, "demo-re-authenticated");

    // Wrong credentials are an error on the page, not a session.
    await signOut(page, true);
    const errors = await count(page, "authentication-error");
    await page.fill("#username", ada.username);
    await page.fill("#password", "not-the-password");
    await page.click("#sign-in");
    await waitForEvent(page, "authentication-error", errors);
    assert.match(await page.textContent("#error"), /username or password is wrong/);

    // Nothing the page sent put a session token in a URL, and nothing broke the page.
    const tokens = seen.requests
      .map((r) => r.headers["authorization"])
      .filter(Boolean)
      .map((a) => a.replace(/^Bearer /, ""));
    assert.ok(tokens.length > 0);
    for (const url of seen.urls) {
      for (const token of tokens) assert.ok(!url.includes(token), `a session token in ${url}`);
    }
    const problems = seen.console.filter((l) => /Content Security Policy|CORS|pageerror/i.test(l));
    assert.deepEqual(problems, []);
  } catch (error) {
    console.error(stack.log.join("").slice(-4000));
    throw error;
  } finally {
    await browser.close();
    stack.stop();
  }
});
