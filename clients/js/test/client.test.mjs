// Unit tests of the client: the authority is a scripted `fetch` that
// records every request, so each test says exactly what the client sent.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Client, MemoryStorage, TesseraError } from "../dist/index.js";

const AUTHORITY = "https://auth.test";
const APP = "layer:///apps/staging/5d6e7f80-0000-4000-8000-000000000001";

function json(status, body, headers = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
  });
}

function challenge401(nonce) {
  return json(401, { id: "authentication_required", code: 4, message: "authenticate", data: { nonce } });
}

/** A scripted authority: `routes` maps "METHOD /path" to a handler of the
 * request (and its parsed body) returning a Response. */
function authority(routes) {
  const requests = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    const method = init.method ?? "GET";
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    const request = { method, path: u.pathname, url, headers: init.headers ?? {}, body, init };
    requests.push(request);
    const handler = routes[`${method} ${u.pathname}`];
    if (!handler) return json(404, { id: "not_found", code: 102, message: "no route", data: {} });
    return handler(request);
  };
  return { fetch, requests };
}

function session(userId, token) {
  return json(201, { session_token: token, user_id: userId, identity: { user_id: userId }, expires_at: "2030-01-01T00:00:00Z" });
}

/** Routes of a healthy authority where tokens `token-<user>` open sessions `s-<user>-<n>`. */
function healthy(extra = {}) {
  let n = 0;
  return {
    "HEAD /ping": () => new Response(null, { status: 204 }),
    "POST /nonces": () => json(201, { nonce: `nonce-${++n}`, expires_at: "2030-01-01T00:00:00Z" }),
    "POST /sessions": ({ body }) => {
      const user = body.identity_token.replace(/^token-/, "");
      return session(user, `s-${user}-${++n}`);
    },
    "GET /identities/me": ({ headers }) =>
      json(200, { user_id: headers.authorization.replace(/^Bearer s-/, "").replace(/-\d+$/, "") }),
    "DELETE /sessions/current": () => new Response(null, { status: 204 }),
    ...extra,
  };
}

function client(fetch, options = {}) {
  return new Client({ authority: AUTHORITY, appId: APP, fetch, storage: new MemoryStorage(), ...options });
}

/** Answers every challenge as `user`, recording the nonces. */
function answerAs(c, user, nonces = []) {
  c.on("authentication-challenge", ({ nonce }) => {
    nonces.push(nonce);
    c.answerAuthenticationChallenge(`token-${user}`).catch(() => undefined);
  });
  return nonces;
}

test("the challenge carries the nonce and its answer opens a session", async () => {
  const a = authority(healthy());
  const c = client(a.fetch);
  const events = [];
  for (const name of ["connected", "authentication-challenge", "authenticated", "authentication-error"]) {
    c.on(name, (e) => events.push([name, e]));
  }
  answerAs(c, "ada");
  await c.connect();
  const userId = await c.authenticate();
  assert.equal(userId, "ada");
  assert.equal(c.userId, "ada");
  assert.ok(c.isAuthenticated);
  assert.deepEqual(events.map(([n]) => n), ["connected", "authentication-challenge", "authenticated"]);
  assert.deepEqual(events[1][1], { nonce: "nonce-1" });
  assert.deepEqual(events[2][1], { userId: "ada", restored: false });
  const nonceRequest = a.requests.find((r) => r.path === "/nonces");
  assert.deepEqual(nonceRequest.body, { app_id: APP });
  const sessionRequest = a.requests.find((r) => r.path === "/sessions");
  assert.deepEqual(sessionRequest.body, { app_id: APP, identity_token: "token-ada" });
  assert.equal(sessionRequest.headers.authorization, undefined);
  assert.equal(sessionRequest.init.credentials, "omit");

  const me = await c.identity();
  assert.equal(me.user_id, "ada");
  const last = a.requests.at(-1);
  assert.equal(last.headers.authorization, "Bearer s-ada-2");
  for (const r of a.requests) assert.ok(!r.url.includes("s-ada"), `token in ${r.url}`);
});

test("a refused identity token is an authentication error", async () => {
  const a = authority(
    healthy({
      "POST /sessions": () =>
        json(422, { id: "invalid_identity_token", code: 105, message: "bad signature", data: { reason: "invalid_signature" } }),
    }),
  );
  const c = client(a.fetch);
  const errors = [];
  c.on("authentication-error", ({ error }) => errors.push(error));
  answerAs(c, "ada");
  await assert.rejects(c.authenticate(), (e) => e instanceof TesseraError && e.id === "invalid_identity_token");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].data.reason, "invalid_signature");
  assert.equal(errors[0].status, 422);
  assert.ok(!c.isAuthenticated);
});

test("a 401 with a nonce becomes one challenge for every waiting request, then they are sent again", async () => {
  let ended = false;
  const a = authority(
    healthy({
      "GET /identities/me": ({ headers }) =>
        ended && headers.authorization === "Bearer s-ada-2" ? challenge401("fresh") : json(200, { user_id: "ada" }),
    }),
  );
  const c = client(a.fetch);
  const nonces = answerAs(c, "ada");
  await c.authenticate();
  ended = true; // the operator ends the session
  const [one, two] = await Promise.all([c.identity(), c.identity()]);
  assert.equal(one.user_id, "ada");
  assert.equal(two.user_id, "ada");
  assert.deepEqual(nonces, ["nonce-1", "fresh"], "one re-challenge, with the 401's nonce");
  const sessions = a.requests.filter((r) => r.path === "/sessions");
  assert.equal(sessions.length, 2);
  assert.ok(c.isAuthenticated);
});

test("re-challenges are bounded: no loop when every session is refused", async () => {
  const a = authority(healthy({ "GET /identities/me": () => challenge401("again") }));
  const c = client(a.fetch, { challengeBackoff: { initialMs: 1, maxMs: 4, maxAttempts: 3 } });
  const nonces = answerAs(c, "ada");
  const errors = [];
  c.on("authentication-error", ({ error }) => errors.push(error.id));
  await c.authenticate();
  await assert.rejects(c.identity(), (e) => e.id === "too_many_challenges");
  assert.equal(nonces.length, 1 + 3, "the first challenge and three re-challenges");
  assert.equal(a.requests.filter((r) => r.path === "/identities/me").length, 4);
  assert.deepEqual(errors, ["too_many_challenges"]);
  assert.ok(!c.isAuthenticated);
});

test("an unanswered challenge fails the waiting call after its timeout", async () => {
  const a = authority(healthy());
  const c = client(a.fetch, { challengeTimeoutMs: 20 });
  const nonces = [];
  c.on("authentication-challenge", ({ nonce }) => nonces.push(nonce));
  await assert.rejects(c.authenticate(), (e) => e.id === "challenge_timeout");
  assert.deepEqual(nonces, ["nonce-1"]);
  assert.ok(!c.isAuthenticated);
});

test("local data is per user and deleted on deauthentication unless kept", async () => {
  const a = authority(healthy());
  const storage = new MemoryStorage();
  const c = client(a.fetch, { storage });
  let user = "ada";
  c.on("authentication-challenge", () => c.answerAuthenticationChallenge(`token-${user}`).catch(() => undefined));
  const ended = [];
  c.on("deauthenticated", (e) => ended.push(e));

  await c.authenticate();
  c.localData.set("draft", { text: "hello" });
  assert.deepEqual(c.localData.get("draft"), { text: "hello" });
  await c.deauthenticate({ keepLocalData: true });
  assert.deepEqual(ended.at(-1), { userId: "ada", keptLocalData: true });
  assert.throws(() => c.localData, (e) => e.id === "not_authenticated");

  user = "bob";
  await c.authenticate();
  assert.equal(c.localData.get("draft"), undefined, "bob does not see ada's data");
  c.localData.set("draft", "bob's");
  await c.deauthenticate();
  assert.deepEqual(ended.at(-1), { userId: "bob", keptLocalData: false });

  user = "ada";
  await c.authenticate();
  assert.deepEqual(c.localData.get("draft"), { text: "hello" }, "ada's kept data is back");
  await c.deauthenticate({ keepLocalData: false });
  user = "ada";
  await c.authenticate();
  assert.equal(c.localData.get("draft"), undefined, "deleted");
  const keys = Array.from({ length: storage.length }, (_, i) => storage.key(i));
  assert.ok(!keys.some((k) => k.includes("bob")), `bob's data left: ${keys}`);
  const deletes = a.requests.filter((r) => r.method === "DELETE");
  assert.equal(deletes.length, 3);
  for (const d of deletes) assert.equal(d.path, "/sessions/current");
});

test("every call during deauthentication fails clearly", async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const a = authority(
    healthy({
      "DELETE /sessions/current": async () => {
        await gate;
        return new Response(null, { status: 204 });
      },
    }),
  );
  const c = client(a.fetch);
  answerAs(c, "ada");
  await c.authenticate();
  const leaving = c.deauthenticate();
  for (const call of [() => c.identity(), () => c.authenticate(), () => c.answerAuthenticationChallenge("token-ada"), () => c.deauthenticate()]) {
    await assert.rejects(Promise.resolve().then(call), (e) => e.id === "deauthenticating" && /under way/.test(e.message));
  }
  assert.throws(() => c.localData, (e) => e.id === "deauthenticating");
  release();
  await leaving;
  assert.ok(!c.isAuthenticated);
  await c.authenticate();
  assert.ok(c.isAuthenticated, "usable again afterwards");
});

test("a deauthentication the authority could not record keeps the session", async () => {
  let down = true;
  const a = authority(
    healthy({
      "DELETE /sessions/current": () =>
        down
          ? json(503, { id: "service_unavailable", code: 1, message: "down", data: {} }, { "retry-after": "1" })
          : new Response(null, { status: 204 }),
    }),
  );
  const c = client(a.fetch);
  answerAs(c, "ada");
  await c.authenticate();
  c.localData.set("k", 1);
  await assert.rejects(c.deauthenticate(), (e) => e.id === "service_unavailable" && e.data.retry_after_secs === 1);
  assert.ok(c.isAuthenticated);
  assert.equal(c.localData.get("k"), 1);
  down = false;
  await c.deauthenticate();
  assert.ok(!c.isAuthenticated);
});

test("a persisted session survives a new client and is never put in a URL", async () => {
  const a = authority(healthy());
  const storage = new MemoryStorage();
  const first = client(a.fetch, { storage, persistSession: true });
  answerAs(first, "ada");
  await first.authenticate();
  const second = client(a.fetch, { storage, persistSession: true });
  const events = [];
  second.on("authenticated", (e) => events.push(e));
  await second.connect();
  assert.deepEqual(events, [{ userId: "ada", restored: true }]);
  assert.equal((await second.identity()).user_id, "ada");
  await second.deauthenticate();
  const third = client(a.fetch, { storage, persistSession: true });
  assert.ok(!third.isAuthenticated);
  const notPersisted = client(a.fetch, { storage });
  assert.ok(!notPersisted.isAuthenticated);
  for (const r of a.requests) assert.ok(!/s-ada/.test(r.url));
});

test("an unreachable authority is a network error", async () => {
  const c = client(async () => {
    throw new TypeError("Failed to fetch");
  });
  await assert.rejects(c.connect(), (e) => e.id === "network_error" && e.status === 0);
  assert.throws(() => new Client({ authority: "", appId: APP }), TypeError);
});

test("a challenge the app gives up fails its waiters with the reason", async () => {
  const a = authority(healthy());
  const c = client(a.fetch);
  const errors = [];
  c.on("authentication-error", ({ error }) => errors.push(error.id));
  c.on("authentication-challenge", () => c.rejectAuthenticationChallenge("wrong password"));
  await assert.rejects(c.authenticate(), (e) => e.id === "challenge_rejected" && e.message === "wrong password");
  assert.deepEqual(errors, ["challenge_rejected"]);
  assert.equal(a.requests.filter((r) => r.path === "/sessions").length, 0);
});

/** A 503 of `POST /sessions` saying what became of the nonce. */
function lost(nonceState) {
  return json(503, { id: "service_unavailable", code: 1, message: "storage", data: { nonce_state: nonceState } }, { "retry-after": "1" });
}

test("a 503 whose nonce was not used sends the same token again", async () => {
  let failures = 1;
  const a = authority(
    healthy({
      "POST /sessions": ({ body }) =>
        failures-- > 0 ? lost("unused") : session(body.identity_token.replace(/^token-/, ""), "s-ada-9"),
    }),
  );
  const c = client(a.fetch, { challengeBackoff: { initialMs: 1 } });
  const errors = [];
  c.on("authentication-error", ({ error }) => errors.push(error));
  const nonces = answerAs(c, "ada");
  assert.equal(await c.authenticate(), "ada");
  assert.deepEqual(nonces, ["nonce-1"], "no new challenge");
  const sent = a.requests.filter((r) => r.path === "/sessions").map((r) => r.body.identity_token);
  assert.deepEqual(sent, ["token-ada", "token-ada"]);
  assert.equal(errors.length, 0);
});

test("a 503 whose nonce may have been used, or a lost answer, challenges again with a new nonce", async () => {
  for (const failure of [() => lost("unknown"), () => Promise.reject(new TypeError("connection reset"))]) {
    let failures = 1;
    let n = 0;
    const a = authority(
      healthy({
        "POST /sessions": ({ body }) =>
          failures-- > 0 ? failure() : session(body.identity_token.split(":")[1], `s-${++n}`),
      }),
    );
    const c = client(a.fetch, { challengeBackoff: { initialMs: 1 } });
    const nonces = [];
    c.on("authentication-challenge", ({ nonce }) => {
      nonces.push(nonce);
      c.answerAuthenticationChallenge(`token:ada:${nonce}`).catch(() => undefined);
    });
    assert.equal(await c.authenticate(), "ada");
    assert.equal(nonces.length, 2, "a second challenge");
    assert.notEqual(nonces[0], nonces[1]);
    const sent = a.requests.filter((r) => r.path === "/sessions").map((r) => r.body.identity_token);
    assert.deepEqual(sent, nonces.map((nonce) => `token:ada:${nonce}`), "each nonce answered once");
  }
});
