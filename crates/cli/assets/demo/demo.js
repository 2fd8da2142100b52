// The demo page of `tessera up`: the whole flow in the browser with the
// tessera-client package. The identity service stands in for the app's own
// backend: it checks the credentials and signs an identity token for the
// challenge's nonce. The credentials stay in this page's memory only, so
// that a re-challenge (a session ended by the operator) is answered without
// asking again.
import { Client, TesseraError } from "/demo/tessera.js";

const $ = (id) => document.getElementById(id);
let client;
let credentials = null;

function log(name, detail) {
  const item = document.createElement("li");
  item.dataset.event = name;
  item.textContent = `${new Date().toLocaleTimeString()} ${name}${detail ? `: ${detail}` : ""}`;
  $("events").append(item);
}

function status(text) {
  $("status").textContent = text;
}

function showError(error) {
  $("error").textContent = error ? `${error.id ?? "error"}: ${error.message}` : "";
}

function signedIn(yes) {
  for (const id of ["reload-identity", "note", "save-note", "sign-out-keep", "sign-out-delete"]) {
    $(id).disabled = !yes;
  }
}

function showIdentity(identity) {
  $("identity-name").textContent = identity?.display_name ?? (identity ? "(no display name)" : "—");
  $("identity-user").textContent = identity?.user_id ?? "—";
  $("identity-id").textContent = identity?.id ?? "—";
}

function showNote() {
  const note = client.isAuthenticated ? client.localData.get("note") : undefined;
  $("saved-note").textContent = note === undefined ? "No saved note." : `Saved note: ${note}`;
  $("note").value = note ?? "";
}

async function identityToken(config, nonce) {
  const answer = await fetch(`${config.identity}/identity_tokens`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ nonce, username: credentials.username, password: credentials.password }),
    credentials: "omit",
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    throw new TesseraError(body.id ?? "http_error", body.message ?? `the identity service answered ${answer.status}`, {
      status: answer.status,
    });
  }
  return body.identity_token;
}

async function loadIdentity() {
  const identity = await client.identity();
  showIdentity(identity);
  status(`Signed in as ${identity.display_name ?? identity.user_id}.`);
  return identity;
}

async function run(action) {
  showError(null);
  try {
    await action();
  } catch (error) {
    showError(error);
  }
}

async function start() {
  const config = await (await fetch("/demo/config.json", { cache: "no-store" })).json();
  client = new Client({ authority: config.authority, appId: config.app_id });
  client.on("connected", ({ authority }) => log("connected", authority));
  client.on("authentication-challenge", ({ nonce }) => {
    log("authentication-challenge", `nonce …${nonce.slice(-8)}`);
    if (!credentials) {
      client.rejectAuthenticationChallenge("sign in first");
      return;
    }
    identityToken(config, nonce)
      .then((token) => client.answerAuthenticationChallenge(token))
      .catch((error) => {
        showError(error);
        if (error.id === "invalid_credentials") credentials = null;
        try {
          client.rejectAuthenticationChallenge(error.message);
        } catch {
          // Deauthentication began meanwhile.
        }
      });
  });
  client.on("authenticated", ({ userId }) => {
    log("authenticated", userId);
    signedIn(true);
    showNote();
  });
  client.on("authentication-error", ({ error }) => {
    log("authentication-error", `${error.id}: ${error.message}`);
    signedIn(client.isAuthenticated);
  });
  client.on("deauthenticated", ({ userId, keptLocalData }) => {
    log("deauthenticated", `${userId}, local data ${keptLocalData ? "kept" : "deleted"}`);
    signedIn(false);
    showIdentity(null);
    $("saved-note").textContent = "No saved note.";
    $("note").value = "";
    status("Signed out.");
  });

  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(async () => {
      if (client.isAuthenticated) {
        // Switching users: the first user's local data stays for their return.
        await client.deauthenticate({ keepLocalData: true });
      }
      credentials = { username: $("username").value, password: $("password").value };
      $("password").value = "";
      status("Signing in…");
      await client.authenticate();
      await loadIdentity();
    });
  });
  $("reload-identity").addEventListener("click", () => run(loadIdentity));
  $("save-note").addEventListener("click", () =>
    run(async () => {
      client.localData.set("note", $("note").value);
      showNote();
    }),
  );
  for (const [id, keepLocalData] of [
    ["sign-out-keep", true],
    ["sign-out-delete", false],
  ]) {
    $(id).addEventListener("click", () =>
      run(async () => {
        credentials = null;
        await client.deauthenticate({ keepLocalData });
      }),
    );
  }

  await client.connect();
  status("Ready: sign in.");
}

start().catch((error) => {
  status("The demo could not start.");
  showError(error);
});
