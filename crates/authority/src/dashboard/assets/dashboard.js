// The Tessera dashboard: each page is drawn here from the admin API, called
// with the sign-in cookie and, for every change, the page's CSRF token.
// Everything shown is set as text, never as HTML.

const body = document.body;
const page = body.dataset.page;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const content = document.getElementById("content");
const statusLine = document.getElementById("status");

/** An element: `h("p", {class: "x"}, "text", child, …)`. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let ids = 0;
/** A labelled control: the label names it for screen readers and clicks. */
function field(labelText, control, note) {
  control.id ||= `f${++ids}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control,
    note ? h("div", { class: "muted" }, note) : null);
}

function say(message) {
  statusLine.textContent = message;
}

function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, describe(error));
}

function describe(error) {
  if (error instanceof ApiFailure) {
    const id = error.body?.id ? ` (${error.body.id})` : "";
    return `${error.body?.message ?? `HTTP ${error.status}`}${id}`;
  }
  return String(error?.message ?? error);
}

class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls the authority; a change carries the CSRF token. */
async function api(method, path, data) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (data !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: data === undefined ? undefined : JSON.stringify(data),
  });
  const text = response.status === 204 ? "" : await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!response.ok) {
    if (response.status === 401 && page !== "sign-in") {
      say("Your sign-in has ended; sign in again.");
      setTimeout(() => location.assign("/dashboard/sign-in"), 1500);
    }
    throw new ApiFailure(response.status, parsed);
  }
  return parsed;
}

const enc = encodeURIComponent;

function copyButton(value, what) {
  return h("button", {
    type: "button", class: "copy", "aria-label": `Copy the ${what}`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value);
        say(`Copied the ${what}.`);
      } catch {
        say(`Could not copy; select the ${what} and copy it by hand.`);
      }
    },
  }, "Copy");
}

/** A wide table, scrolled on its own instead of widening the page. */
function scroll(table) {
  return h("div", { class: "scroll" }, table);
}

function copyable(value, what) {
  return h("span", {}, h("code", { "data-copy": what }, value), copyButton(value, what));
}

function when(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  return h("time", { datetime: rfc3339, title: rfc3339 }, d.toLocaleString());
}

function lifetime(secs) {
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  for (const [n, name] of units) {
    if (secs % n === 0) {
      const k = secs / n;
      return `${k} ${name}${k === 1 ? "" : "s"}`;
    }
  }
  return `${secs} s`;
}

/** A form whose submit runs `action`, its errors shown inside it. */
function form(attrs, children, action) {
  const problem = h("div", { class: "problem" });
  const el = h("form", attrs, children, problem);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const button = el.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      await action(el);
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    } finally {
      if (button) button.disabled = false;
    }
  });
  return el;
}

/** Asks before something that cannot be undone; resolves to the answer. */
function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "danger", value: "yes" }, confirmLabel);
    const no = h("button", { type: "button", class: "secondary", value: "no" }, "Cancel");
    const dialog = h("dialog", { "aria-labelledby": "confirm-question" },
      h("p", { id: "confirm-question" }, question), h("div", { class: "actions" }, yes, no));
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

async function allApps() {
  const apps = [];
  let after = "";
  for (;;) {
    const pageOf = await api("GET", `/admin/apps?limit=200${after ? `&after=${enc(after)}` : ""}`);
    apps.push(...pageOf.apps);
    if (!pageOf.next) return apps;
    after = pageOf.next;
  }
}

function appSelect(apps, { any, selected } = {}) {
  const select = h("select", { name: "app_id" });
  if (any) select.append(h("option", { value: "" }, any));
  for (const app of apps) {
    select.append(h("option", { value: app.app_id, selected: app.app_id === selected },
      `${app.name} (${app.environment}) — ${app.app_id}`));
  }
  return select;
}

// ---------------------------------------------------------------- sign-in

function signInPage() {
  const secret = h("input", { type: "password", name: "secret", autocomplete: "current-password", required: true });
  const kind = h("select", { name: "kind" },
    h("option", { value: "admin_token" }, "Admin token"),
    h("option", { value: "password" }, "Dashboard password"));
  content.append(h("section", {},
    h("p", {}, "Sign in with the authority's admin token or the dashboard password."),
    form({ id: "sign-in-form" }, [
      field("Sign in with", kind),
      field("Admin token or password", secret),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")),
    ], async () => {
      const value = secret.value;
      secret.value = "";
      await api("POST", "/dashboard/sign-in", { [kind.value]: value });
      location.assign("/dashboard/apps");
    })));
  secret.focus();
}

// ---------------------------------------------------------------- apps

async function appsPage() {
  const list = h("div", {}, "Loading…");
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 200 });
  const environment = h("select", { name: "environment" },
    h("option", { value: "staging" }, "Staging"),
    h("option", { value: "production" }, "Production"));
  content.append(
    h("section", { "aria-labelledby": "apps-heading" }, h("h2", { id: "apps-heading" }, "All apps"), list),
    h("section", { "aria-labelledby": "new-app-heading" },
      h("h2", { id: "new-app-heading" }, "Create an app"),
      form({ id: "create-app-form" }, [
        h("div", { class: "row" }, field("Name", name), field("Environment", environment)),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Create app")),
      ], async () => {
        const app = await api("POST", "/admin/apps", { name: name.value, environment: environment.value });
        location.assign(`/dashboard/apps/${enc(app.app_id)}`);
      })));
  const apps = await allApps();
  if (apps.length === 0) {
    list.replaceChildren(h("p", { class: "muted" }, "No apps yet: create one below."));
    return;
  }
  list.replaceChildren(scroll(h("table", {},
    h("thead", {}, h("tr", {}, ["Name", "Environment", "App id", "Provider id", "Session lifetime"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, apps.map((app) => h("tr", {},
      h("td", {}, h("a", { href: `/dashboard/apps/${enc(app.app_id)}` }, app.name)),
      h("td", {}, app.environment),
      h("td", {}, copyable(app.app_id, `app id of ${app.name}`)),
      h("td", {}, copyable(app.provider_id, `provider id of ${app.name}`)),
      h("td", {}, lifetime(app.session_ttl_secs), app.session_ttl_is_default ? h("span", { class: "muted" }, " (default)") : null)))))));
}

// ---------------------------------------------------------------- one app and its keys

function pem(label, buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const lines = btoa(binary).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

async function appPage() {
  const appId = body.dataset.appId;
  const app = await api("GET", `/admin/apps/${enc(appId)}`);
  const keys = app.keys;
  document.getElementById("title").textContent = app.name;
  document.title = `${app.name} · Tessera dashboard`;
  const reload = () => location.reload();

  const ttl = h("input", { type: "number", name: "session_ttl_secs", min: 30, max: 31536000, value: app.session_ttl_secs, required: true });
  const details = h("section", { "aria-labelledby": "app-heading" },
    h("h2", { id: "app-heading" }, "App"),
    h("dl", {},
      h("dt", {}, "Name"), h("dd", {}, app.name),
      h("dt", {}, "Environment"), h("dd", {}, app.environment),
      h("dt", {}, "App id"), h("dd", {}, copyable(app.app_id, "app id")),
      h("dt", {}, "Provider id"), h("dd", {}, copyable(app.provider_id, "provider id")),
      h("dt", {}, "Created"), h("dd", {}, when(app.created_at)),
      h("dt", {}, "Session lifetime"), h("dd", { id: "session-lifetime" }, lifetime(app.session_ttl_secs),
        app.session_ttl_is_default ? " (the authority's default)" : "")),
    form({ id: "session-lifetime-form" }, [
      field("Session lifetime in seconds (30 to 31,536,000; new sessions only)", ttl),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save the lifetime"),
        h("button", { type: "button", class: "secondary", id: "default-lifetime", onclick: async () => {
          await api("PATCH", `/admin/apps/${enc(app.app_id)}`, { session_ttl_secs: null });
          reload();
        } }, "Use the default")),
    ], async () => {
      await api("PATCH", `/admin/apps/${enc(app.app_id)}`, { session_ttl_secs: Number(ttl.value) });
      reload();
    }));

  const keysSection = h("section", { "aria-labelledby": "keys-heading" });
  const drawKeys = (list) => {
    const rows = list.map((key) => h("tr", { "data-kid": key.kid },
      h("td", {}, copyable(key.kid, "key id")),
      h("td", {}, h("span", { class: `badge ${key.status}` }, key.status),
        key.revoked_at ? h("div", { class: "muted" }, "revoked ", when(key.revoked_at)) : null),
      h("td", {}, h("code", {}, key.fingerprint)),
      h("td", {}, when(key.created_at)),
      h("td", {}, key.status === "active"
        ? h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${key.kid}`, onclick: async (event) => {
          const ok = await confirmDialog(
            `Revoke ${key.kid}? Tokens it signed will be refused with revoked_key. This cannot be undone.`,
            "Revoke the key");
          if (!ok) { event.target.focus(); return; }
          try {
            await api("DELETE", `/admin/keys/${enc(key.kid)}`);
            say(`Revoked ${key.kid}.`);
            await redrawKeys();
          } catch (error) { say(describe(error)); }
        } }, "Revoke")
        : null)));
    keysSection.replaceChildren(h("h2", { id: "keys-heading" }, `Keys (${list.length})`),
      list.length === 0 ? h("p", { class: "muted" }, "No keys yet: generate or register one below.") : scroll(h("table", { id: "keys" },
        h("thead", {}, h("tr", {}, ["Key id", "Status", "Fingerprint", "Created", ""]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows))));
  };
  const redrawKeys = async () => drawKeys((await api("GET", `/admin/apps/${enc(app.app_id)}`)).keys);
  drawKeys(keys);

  const pemText = h("textarea", { name: "public_key_pem", placeholder: "-----BEGIN PUBLIC KEY-----", required: true });
  const upload = h("input", { type: "file", accept: ".pem,.pub,.txt,application/x-pem-file" });
  upload.addEventListener("change", async () => {
    const file = upload.files[0];
    if (file) pemText.value = await file.text();
  });
  const register = h("section", { "aria-labelledby": "register-heading" },
    h("h2", { id: "register-heading" }, "Register a public key"),
    form({ id: "register-key-form" }, [
      field("Public key (PEM: SPKI or PKCS#1, RSA 2048 bits or more)", pemText),
      field("…or read it from a file", upload),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Register the key")),
    ], async () => {
      const key = await api("POST", `/admin/apps/${enc(app.app_id)}/keys`, { public_key_pem: pemText.value });
      say(`Registered ${key.kid}.`);
      pemText.value = "";
      upload.value = "";
      await redrawKeys();
    }));

  const generated = h("div", { id: "generated", "aria-live": "polite" });
  const generate = h("section", { "aria-labelledby": "generate-heading" },
    h("h2", { id: "generate-heading" }, "Generate a key pair in this browser"),
    h("p", {}, "An RSA-2048 key pair is made here with WebCrypto. Only the public key is sent to the authority; ",
      "the private key is offered once as a PKCS#8 PEM download and kept nowhere else."),
    form({ id: "generate-key-form" }, [
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Generate and register")),
    ], async () => {
      if (!crypto.subtle) throw new Error("WebCrypto needs a secure context: open the dashboard over https or from localhost");
      generated.replaceChildren(h("p", {}, "Generating…"));
      const pair = await crypto.subtle.generateKey(
        { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
        true, ["sign", "verify"]);
      const publicPem = pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey));
      const privatePem = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey));
      const key = await api("POST", `/admin/apps/${enc(app.app_id)}/keys`, { public_key_pem: publicPem });
      const file = `tessera-${key.kid.split("/").pop()}.pem`;
      const url = URL.createObjectURL(new Blob([privatePem], { type: "application/x-pem-file" }));
      const link = h("a", { href: url, download: file, id: "private-key-download" }, `Download the private key (${file})`);
      generated.replaceChildren(
        h("p", {}, "Registered ", h("code", {}, key.kid), " (fingerprint ", h("code", {}, key.fingerprint), ")."),
        h("p", {}, link, " — save it now: it is not stored anywhere and cannot be downloaded again."),
        h("p", {}, "Sign a token with it:"),
        h("pre", {}, `tessera token sign --key ${file} \\\n  --kid ${key.kid} \\\n  --provider-id ${app.provider_id} \\\n  --user USER --nonce NONCE`));
      await redrawKeys();
      link.focus();
    }),
    generated);

  content.append(details, keysSection, generate, register);
}

// ---------------------------------------------------------------- validation tool

function findingItem(f) {
  return h("li", { "data-check": f.check, "data-status": f.status },
    h("span", { class: `badge ${f.status}` }, f.status.toUpperCase()), " ",
    h("strong", {}, f.check),
    f.reason ? h("span", {}, " — ", h("code", { class: "reason" }, f.reason)) : null,
    h("div", { class: "message" }, f.message),
    f.hint ? h("div", { class: "hint" }, "Hint: ", f.hint) : null);
}

async function validatePage() {
  const apps = await allApps();
  const params = new URLSearchParams(location.search);
  const app = appSelect(apps, { any: "Any app (find the key by the token's kid)", selected: params.get("app_id") });
  const token = h("textarea", { name: "identity_token", required: true, spellcheck: "false", placeholder: "eyJ…" });
  const result = h("div", { id: "report", "aria-live": "polite" });
  content.append(
    h("section", {},
      h("p", {}, "Paste an identity token to see every check. Nothing is consumed: the nonce stays usable."),
      form({ id: "validate-form" }, [
        field("App", app),
        field("Identity token", token),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Validate")),
      ], async () => {
        const request = { identity_token: token.value.trim() };
        if (app.value) request.app_id = app.value;
        const report = await api("POST", "/validate", request);
        const json = (value) => h("pre", {}, value ? JSON.stringify(value, null, 2) : "(could not be decoded)");
        const failed = report.findings.filter((f) => f.status === "fail");
        const warned = report.findings.filter((f) => f.status === "warn");
        const times = ["iat", "exp"].filter((c) => Number.isInteger(report.claims?.[c]))
          .map((c) => h("div", { class: "muted" }, `${c}: `, when(new Date(report.claims[c] * 1000).toISOString())));
        result.replaceChildren(h("section", { "aria-labelledby": "verdict" },
          h("p", { id: "verdict", class: `verdict ${report.valid ? "valid" : "invalid"}` },
            report.valid ? "Valid: the authority would accept this token." : "Invalid: the authority would refuse this token."),
          h("p", { id: "summary" }, `${failed.length} failed, ${warned.length} warning${warned.length === 1 ? "" : "s"}`,
            failed.length + warned.length ? ": " : "", [...failed, ...warned].map((f) => f.reason ?? f.check).join(", ")),
          h("h2", {}, "Checks"),
          h("ol", { class: "checklist" }, report.findings.map(findingItem)),
          h("div", { class: "grid2" },
            h("div", {}, h("h2", {}, "Header"), json(report.header)),
            h("div", {}, h("h2", {}, "Claims"), json(report.claims), times))));
      })),
    result);
}

// ---------------------------------------------------------------- users

const PROFILE = [
  ["display_name", "Display name"], ["first_name", "First name"], ["last_name", "Last name"],
  ["avatar_url", "Avatar URL"], ["phone_number", "Phone number"], ["email_address", "Email address"],
];

async function usersPage() {
  const apps = await allApps();
  const params = new URLSearchParams(location.search);
  const app = appSelect(apps, { selected: params.get("app_id") });
  const user = h("input", { type: "text", name: "user_id", required: true, value: params.get("user_id") ?? "" });
  const shown = h("div", { id: "user", "aria-live": "polite" });
  const lookUp = form({ id: "user-form" }, [
    h("div", { class: "row" }, field("App", app), field("User id", user)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Look up")),
  ], async () => {
    history.replaceState(null, "", `?app_id=${enc(app.value)}&user_id=${enc(user.value)}`);
    await showUser(app.value, user.value, shown);
  });
  content.append(h("section", {}, lookUp), shown);
  if (apps.length === 0) shown.replaceChildren(h("p", { class: "muted" }, "No apps yet."));
  if (params.get("user_id") && app.value) await showUser(app.value, params.get("user_id"), shown);
}

async function showUser(appId, userId, into) {
  const path = `/admin/apps/${enc(appId)}/users/${enc(userId)}`;
  const refresh = () => showUser(appId, userId, into);
  const u = await api("GET", path);
  const act = (label, attrs, run) => h("button", { type: "button", ...attrs, onclick: async () => {
    try {
      await run();
      await refresh();
    } catch (error) { say(describe(error)); }
  } }, label);

  const state = h("section", { "aria-labelledby": "user-heading" },
    h("h2", { id: "user-heading" }, `User ${u.user_id}`),
    h("dl", {},
      h("dt", {}, "Status"), h("dd", { id: "user-status" }, u.suspended ? "Suspended" : "Active",
        u.suspended_at ? h("span", { class: "muted" }, " since ", when(u.suspended_at)) : null),
      h("dt", {}, "Sessions revoked before"), h("dd", {}, when(u.sessions_revoked_before))),
    h("div", { class: "actions" },
      act("End all sessions", { class: "danger", id: "end-sessions" }, async () => {
        if (!(await confirmDialog(`End every session of ${u.user_id}? Their apps will have to sign in again.`, "End the sessions"))) return;
        await api("DELETE", `${path}/sessions`);
        say(`Ended every session of ${u.user_id}.`);
      }),
      u.suspended
        ? act("Lift the suspension", { class: "secondary", id: "lift" }, async () => {
          await api("DELETE", `${path}/suspension`);
          say(`Lifted the suspension of ${u.user_id}.`);
        })
        : act("Suspend", { class: "danger", id: "suspend" }, async () => {
          if (!(await confirmDialog(`Suspend ${u.user_id}? Their sessions end and no new one opens until lifted.`, "Suspend"))) return;
          await api("PUT", `${path}/suspension`);
          say(`Suspended ${u.user_id}.`);
        })));

  const sessions = h("section", { "aria-labelledby": "sessions-heading" },
    h("h2", { id: "sessions-heading" }, `Open sessions (${u.sessions.length}${u.more_sessions ? "+" : ""})`),
    u.sessions.length === 0 ? h("p", { class: "muted", id: "no-sessions" }, "No open session.") : scroll(h("table", { id: "sessions" },
      h("thead", {}, h("tr", {}, ["Session", "Opened", "Last seen", "Expires", "Address", "User agent"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, u.sessions.map((s) => h("tr", {},
        h("td", {}, h("code", {}, s.session_id)), h("td", {}, when(s.created_at)), h("td", {}, when(s.last_seen_at)),
        h("td", {}, when(s.expires_at)), h("td", {}, s.client_address ?? "—"), h("td", {}, s.user_agent ?? "—")))))));

  const identity = u.identity ?? {};
  const inputs = Object.fromEntries(PROFILE.map(([name]) =>
    [name, h("input", { type: "text", name, value: identity[name] ?? "" })]));
  const metadata = h("textarea", { name: "metadata" }, JSON.stringify(identity.metadata ?? {}, null, 2));
  const edit = h("section", { "aria-labelledby": "identity-heading" },
    h("h2", { id: "identity-heading" }, "Identity"),
    u.identity ? h("p", { class: "muted" }, "Created ", when(identity.created_at), ", updated ", when(identity.updated_at), ".")
      : h("p", { class: "muted" }, "No identity yet: it is made by the user's first session, or by saving here."),
    form({ id: "identity-form" }, [
      h("div", { class: "grid2" }, PROFILE.map(([name, label]) => field(label, inputs[name]))),
      field("Metadata (a JSON object of strings)", metadata),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save the identity")),
    ], async () => {
      const change = {};
      for (const [name] of PROFILE) {
        const value = inputs[name].value.trim() || null;
        if (value !== (identity[name] ?? null)) change[name] = value;
      }
      let meta;
      try {
        meta = JSON.parse(metadata.value || "{}");
      } catch {
        throw new Error("The metadata is not JSON.");
      }
      if (JSON.stringify(meta) !== JSON.stringify(identity.metadata ?? {})) change.metadata = meta;
      if (Object.keys(change).length === 0) {
        say("Nothing changed.");
        return;
      }
      await api("PATCH", `/admin/apps/${enc(appId)}/identities/${enc(userId)}`, change);
      say(`Saved the identity of ${userId}.`);
      await refresh();
    }));
  into.replaceChildren(state, sessions, edit);
}

// ---------------------------------------------------------------- audit trail

function localInput(rfc3339) {
  if (!rfc3339) return "";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function auditPage() {
  const apps = await allApps();
  const params = new URLSearchParams(location.search);
  const app = appSelect(apps, { any: "Every app", selected: params.get("app_id") });
  const names = new Map(apps.map((a) => [a.app_id, a.name]));
  const user = h("input", { type: "text", name: "user_id", value: params.get("user_id") ?? "" });
  const since = h("input", { type: "datetime-local", name: "since", value: localInput(params.get("since")) });
  const until = h("input", { type: "datetime-local", name: "until", value: localInput(params.get("until")) });
  const table = h("div", { id: "events", "aria-live": "polite" });
  const more = h("div", { class: "actions" });

  const query = () => {
    const q = new URLSearchParams();
    if (app.value) q.set("app_id", app.value);
    if (user.value.trim()) q.set("user_id", user.value.trim());
    if (since.value) q.set("since", new Date(since.value).toISOString().replace(/\.\d{3}Z$/, "Z"));
    if (until.value) q.set("until", new Date(until.value).toISOString().replace(/\.\d{3}Z$/, "Z"));
    return q;
  };
  const rows = h("tbody", {});
  const load = async (after) => {
    const q = query();
    q.set("limit", "100");
    if (after) q.set("after", String(after));
    const result = await api("GET", `/admin/audit?${q}`);
    for (const e of result.events) {
      const userCell = e.user_id && e.app_id
        ? h("a", { href: `/dashboard/users?app_id=${enc(e.app_id)}&user_id=${enc(e.user_id)}` }, e.user_id)
        : (e.user_id ?? "—");
      rows.append(h("tr", { "data-action": e.action },
        h("td", {}, e.seq), h("td", {}, when(e.at)), h("td", {}, e.action), h("td", {}, e.actor),
        h("td", {}, e.app_id ? (names.has(e.app_id) ? h("span", { title: e.app_id }, names.get(e.app_id)) : h("code", {}, e.app_id)) : "—"),
        h("td", {}, userCell),
        h("td", {}, e.client_address ?? "—"),
        h("td", {}, Object.keys(e.detail ?? {}).length ? h("code", {}, JSON.stringify(e.detail)) : "")));
    }
    more.replaceChildren(result.next
      ? h("button", { type: "button", class: "secondary", onclick: () => load(result.next).catch((err) => say(describe(err))) }, "Older events… (next page)")
      : h("span", { class: "muted" }, rows.children.length ? "No more events." : "No event matches."));
  };
  const filters = form({ id: "audit-form" }, [
    h("div", { class: "row" }, field("App", app), field("User id", user), field("From (local time)", since), field("Until (local time)", until)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter")),
  ], async () => {
    history.replaceState(null, "", `?${query()}`);
    rows.replaceChildren();
    await load();
  });
  table.append(scroll(h("table", {},
    h("thead", {}, h("tr", {}, ["#", "At", "Action", "Actor", "App", "User", "Address", "Detail"]
      .map((t) => h("th", { scope: "col" }, t)))), rows)));
  content.append(h("section", {}, filters), h("section", { "aria-labelledby": "events-heading" },
    h("h2", { id: "events-heading" }, "Events, oldest first"), table, more));
  await load();
}

// ---------------------------------------------------------------- start

const PAGES = {
  "sign-in": signInPage,
  apps: appsPage,
  app: appPage,
  validate: validatePage,
  users: usersPage,
  audit: auditPage,
};

for (const link of document.querySelectorAll("nav a[data-nav]")) {
  if (link.dataset.nav.split(" ").includes(page)) link.setAttribute("aria-current", "page");
}

document.getElementById("sign-out-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/dashboard/sign-out");
  } catch {
    // Signed out already, or the authority is unreachable: the sign-in page says which.
  }
  location.assign("/dashboard/sign-in");
});

(async () => {
  try {
    await PAGES[page]();
    body.dataset.ready = "true";
  } catch (error) {
    content.append(errorBox(error));
    body.dataset.ready = "error";
  }
})();
