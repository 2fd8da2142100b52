// What the browser tests share: a real `tessera up` on free loopback
// ports, headless Debian Chromium (normal web security), an admin client,
// and screenshots under target/browser/.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const shots = join(repo, "target/browser");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return value;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `tessera up` in a fresh data directory; resolves once all three
 * listeners answer. */
export async function startTessera() {
  const dir = mkdtempSync(join(tmpdir(), "tessera-browser-"));
  const log = [];
  const child = spawn(
    required("TESSERA_BIN"),
    [
      "up",
      "--data-dir", dir,
      "--authority-listen", "127.0.0.1:0",
      "--identity-listen", "127.0.0.1:0",
      "--demo-listen", "127.0.0.1:0",
      "--log-format", "json",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  let exited = null;
  child.on("exit", (code) => (exited = code));
  const stop = () => {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`tessera up exited with ${exited}:\n${log.join("")}`);
    if (Date.now() > deadline) {
      stop();
      throw new Error(`tessera up did not start within 60 s:\n${log.join("")}`);
    }
    let stack;
    try {
      stack = JSON.parse(readFileSync(join(dir, "up.json"), "utf8"));
    } catch {
      await sleep(100);
      continue;
    }
    if (stack.demo_url) {
      const health = await fetch(`${stack.authority_url}/healthz`).catch(() => null);
      if (health?.ok) {
        return {
          authority: stack.authority_url,
          identity: stack.identity_url,
          demo: stack.demo_url,
          appId: stack.app_id,
          admin: stack.admin_token,
          users: [
            { username: stack.demo_user, password: stack.demo_password, name: "Demo User" },
            { username: stack.second_user, password: stack.second_password, name: "Second Demo User" },
          ],
          log,
          stop,
        };
      }
    }
    await sleep(100);
  }
}

/** An admin API call; resolves with the response. */
export function admin(stack, method, path, body) {
  return fetch(`${stack.authority}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.admin}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Headless Debian Chromium with its normal web security. */
export async function launchChromium() {
  return chromium.launch({
    executablePath: required("TESSERA_TEST_CHROMIUM"),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Records what a page's console says, its failed requests and every URL it asked for. */
export function watch(page) {
  const seen = { console: [], urls: [], requests: [] };
  page.on("console", (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => seen.console.push(`pageerror: ${e.message}`));
  page.on("request", (r) => {
    seen.urls.push(r.url());
    seen.requests.push({ method: r.method(), url: r.url(), headers: r.headers() });
  });
  return seen;
}

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

export function writeArtifact(name, text) {
  mkdirSync(shots, { recursive: true });
  writeFileSync(join(shots, name), text);
}
