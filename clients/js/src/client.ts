import { Emitter } from "./emitter.js";
import { TesseraError } from "./errors.js";
import { LocalData, MemoryStorage, type StorageLike } from "./local-data.js";
import type { ClientEvents, Identity, Session } from "./types.js";

/** Settings of a {@link Client}. */
export interface ClientOptions {
  /** The authority's base URL (`https://auth.example.com`). */
  authority: string;
  /** The app id (`layer:///apps/staging/…`). */
  appId: string;
  /** Where sessions and local data live: `localStorage` by default (in
   * memory where there is none). */
  storage?: StorageLike;
  /** Keep the session token in `storage` so that a reload stays signed in
   * (default `false`: the session lives as long as the page). */
  persistSession?: boolean;
  /** The `fetch` to use (default: the platform's). */
  fetch?: typeof fetch;
  /** Re-challenges after a session stopped working: the first is emitted
   * at once, later ones after `initialMs`, doubling up to `maxMs`; after
   * `maxAttempts` in a row without a request succeeding in between, the
   * request fails with `too_many_challenges`. */
  challengeBackoff?: { initialMs?: number; maxMs?: number; maxAttempts?: number };
  /** How long a challenge waits for its answer (default 120 s). */
  challengeTimeoutMs?: number;
}

/** Options of {@link Client.deauthenticate}. */
export interface DeauthenticateOptions {
  /** Keep the user's local data for their next session (default `false`:
   * it is deleted). */
  keepLocalData?: boolean;
}

type State = "idle" | "authenticated" | "deauthenticating";

interface Pending {
  promise: Promise<string>;
  resolve: (userId: string) => void;
  reject: (error: TesseraError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function defaultStorage(): StorageLike {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (storage) return storage;
  } catch {
    // Storage refused (privacy settings): fall through.
  }
  return new MemoryStorage();
}

/** A client of the Tessera authority, with the listener model of Layer's
 * SDKs: `connect()`, `authenticate()` → an `authentication-challenge` event
 * with a nonce → `answerAuthenticationChallenge(identityToken)` →
 * `authenticated` (or `authentication-error`); `deauthenticate()` →
 * `deauthenticated`. A request whose session stopped working (401 with a
 * nonce) becomes a new challenge, one at a time, and is sent again once it
 * is answered. The session token travels in the `Authorization` header
 * only, never in a URL. */
export class Client extends Emitter<ClientEvents> {
  private readonly base: string;
  private readonly appId: string;
  private readonly storage: StorageLike;
  private readonly persistSession: boolean;
  private readonly fetcher: typeof fetch;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly maxAttempts: number;
  private readonly challengeTimeoutMs: number;
  private state: State = "idle";
  private token: string | null = null;
  private user: string | null = null;
  private pending: Pending | null = null;
  private challengesInARow = 0;

  constructor(options: ClientOptions) {
    super();
    if (!options.authority || !options.appId) {
      throw new TypeError("`authority` and `appId` are required");
    }
    this.base = options.authority.replace(/\/+$/, "");
    this.appId = options.appId;
    this.storage = options.storage ?? defaultStorage();
    this.persistSession = options.persistSession ?? false;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.initialMs = options.challengeBackoff?.initialMs ?? 500;
    this.maxMs = options.challengeBackoff?.maxMs ?? 30_000;
    this.maxAttempts = options.challengeBackoff?.maxAttempts ?? 5;
    this.challengeTimeoutMs = options.challengeTimeoutMs ?? 120_000;
    if (this.persistSession) this.restore();
  }

  /** The signed-in user's id, or `null`. */
  get userId(): string | null {
    return this.user;
  }

  /** Whether a session is open. */
  get isAuthenticated(): boolean {
    return this.state === "authenticated" && this.token !== null;
  }

  /** The signed-in user's local data. */
  get localData(): LocalData {
    this.usable();
    if (this.user === null) {
      throw new TesseraError("not_authenticated", "no user is signed in; authenticate first");
    }
    return this.dataOf(this.user);
  }

  /** Checks that the authority answers; emits `connected` (and
   * `authenticated` when a stored session was restored). */
  async connect(): Promise<void> {
    this.usable();
    await this.send("HEAD", "/ping");
    this.emit("connected", { authority: this.base });
    if (this.isAuthenticated && this.user !== null) {
      this.emit("authenticated", { userId: this.user, restored: true });
    }
  }

  /** Asks the authority for a nonce and emits `authentication-challenge`;
   * resolves with the user id once the challenge is answered with a
   * session, rejects when it is not. */
  async authenticate(): Promise<string> {
    this.usable();
    this.challengesInARow = 0;
    const answer = await this.send<{ nonce: string }>("POST", "/nonces", { app_id: this.appId });
    return this.challenge(answer.nonce);
  }

  /** Opens a session with an identity token signed for the challenge's
   * nonce; emits `authenticated`, or `authentication-error` and throws. */
  async answerAuthenticationChallenge(identityToken: string): Promise<Session> {
    this.usable();
    if (typeof identityToken !== "string" || identityToken.length === 0) {
      throw new TypeError("the identity token must be a non-empty string");
    }
    let session: Session;
    for (let attempt = 1; ; attempt++) {
      try {
        session = await this.send<Session>("POST", "/sessions", {
          app_id: this.appId,
          identity_token: identityToken,
        });
        break;
      } catch (error) {
        const failure = asTesseraError(error);
        if (this.state === "deauthenticating") throw failure;
        const next = attempt < this.maxAttempts ? afterFailedAnswer(failure) : null;
        if (next === "same-token") {
          // Nothing was written: the same token again, after a pause.
          await sleep(Math.min(this.initialMs * 2 ** (attempt - 1), this.maxMs));
          this.usable();
          continue;
        }
        if (next === "new-nonce" && this.pending && (await this.freshChallenge())) {
          // The nonce may have been used: the challenge goes on with a new
          // one, which the listener answers as it did the first.
          throw failure;
        }
        this.forgetSession();
        this.emit("authentication-error", { error: failure });
        this.settle((p) => p.reject(failure));
        throw failure;
      }
    }
    if (this.state === "deauthenticating") {
      throw deauthenticating();
    }
    this.token = session.session_token;
    this.user = session.user_id;
    this.state = "authenticated";
    if (this.persistSession) {
      this.storage.setItem(this.sessionKey(), JSON.stringify({ token: this.token, userId: this.user }));
    }
    this.emit("authenticated", { userId: session.user_id, restored: false });
    this.settle((p) => p.resolve(session.user_id));
    return session;
  }

  /** Gives up the pending challenge (the user's credentials were refused,
   * say): emits `authentication-error`, and every call waiting on the
   * challenge fails with `challenge_rejected` and `reason`. */
  rejectAuthenticationChallenge(reason: string): void {
    this.usable();
    if (!this.pending) return;
    const error = new TesseraError("challenge_rejected", reason);
    this.emit("authentication-error", { error });
    this.settle((p) => p.reject(error));
  }

  /** The signed-in user's identity (`GET /identities/me`). */
  identity(): Promise<Identity> {
    return this.request<Identity>("GET", "/identities/me");
  }

  /** The identity of another user of the app. */
  identityOf(userId: string): Promise<Identity> {
    return this.request<Identity>("GET", `/identities/${encodeURIComponent(userId)}`);
  }

  /** A request with the session. A 401 with a nonce becomes a challenge
   * (shared by every request waiting on it); the request is sent again
   * once it is answered. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (;;) {
      this.usable();
      if (this.token === null) {
        throw new TesseraError("not_authenticated", "no session; authenticate first");
      }
      try {
        const answer = await this.send<T>(method, path, body, this.token);
        this.challengesInARow = 0;
        return answer;
      } catch (error) {
        const failure = asTesseraError(error);
        const nonce = failure.data["nonce"];
        if (failure.status !== 401 || typeof nonce !== "string") throw failure;
        this.usable();
        await this.rechallenge(nonce);
      }
    }
  }

  /** Ends the session at the authority, then deletes the user's local
   * data unless `keepLocalData`; emits `deauthenticated`. Every call made
   * meanwhile fails with `deauthenticating`. */
  async deauthenticate(options: DeauthenticateOptions = {}): Promise<void> {
    this.usable();
    const userId = this.user;
    const token = this.token;
    const before = this.state;
    this.state = "deauthenticating";
    this.settle((p) => p.reject(deauthenticating()));
    if (token !== null) {
      try {
        await this.send("DELETE", "/sessions/current", undefined, token);
      } catch (error) {
        const failure = asTesseraError(error);
        if (failure.status !== 401) {
          // The session may still be alive: keep it, so that the user can try again.
          this.state = before;
          throw failure;
        }
      }
    }
    const keep = options.keepLocalData ?? false;
    if (userId !== null && !keep) this.dataOf(userId).clear();
    this.forgetSession();
    this.challengesInARow = 0;
    if (userId !== null) this.emit("deauthenticated", { userId, keptLocalData: keep });
  }

  private usable(): void {
    if (this.state === "deauthenticating") throw deauthenticating();
  }

  private dataOf(userId: string): LocalData {
    return new LocalData(this.storage, `tessera:${this.appId}:data:${encodeURIComponent(userId)}:`);
  }

  private sessionKey(): string {
    return `tessera:${this.appId}:session`;
  }

  private restore(): void {
    const raw = this.storage.getItem(this.sessionKey());
    if (raw === null) return;
    try {
      const stored = JSON.parse(raw) as { token?: unknown; userId?: unknown };
      if (typeof stored.token === "string" && typeof stored.userId === "string") {
        this.token = stored.token;
        this.user = stored.userId;
        this.state = "authenticated";
      }
    } catch {
      this.storage.removeItem(this.sessionKey());
    }
  }

  private forgetSession(): void {
    this.token = null;
    this.user = null;
    this.state = "idle";
    this.storage.removeItem(this.sessionKey());
  }

  /** Emits a challenge unless one is pending; resolves when answered. */
  private challenge(nonce: string): Promise<string> {
    if (this.pending) {
      // A newer nonce replaces the pending one; its waiters stay.
      this.emit("authentication-challenge", { nonce });
      return this.pending.promise;
    }
    let resolve!: (userId: string) => void;
    let reject!: (error: TesseraError) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Waiters may come and go; an unanswered challenge is not an unhandled rejection.
    promise.catch(() => undefined);
    const pending: Pending = { promise, resolve, reject, timer: undefined };
    pending.timer = setTimeout(() => {
      if (this.pending === pending) {
        this.settle((p) =>
          p.reject(new TesseraError("challenge_timeout", "the authentication challenge was not answered in time")),
        );
      }
    }, this.challengeTimeoutMs);
    this.pending = pending;
    this.emit("authentication-challenge", { nonce });
    if (!this.has("authentication-challenge")) {
      console.warn("tessera: an authentication challenge has no listener to answer it");
    }
    return promise;
  }

  /** A new nonce for the pending challenge, emitted; whether one came. */
  private async freshChallenge(): Promise<boolean> {
    try {
      const answer = await this.send<{ nonce: string }>("POST", "/nonces", { app_id: this.appId });
      if (!this.pending || this.state === "deauthenticating") return false;
      this.emit("authentication-challenge", { nonce: answer.nonce });
      return true;
    } catch {
      return false;
    }
  }

  /** A re-challenge after a 401: one at a time, backing off, bounded. */
  private async rechallenge(nonce: string): Promise<void> {
    if (this.pending) {
      await this.pending.promise;
      return;
    }
    this.challengesInARow += 1;
    if (this.challengesInARow > this.maxAttempts) {
      const error = new TesseraError(
        "too_many_challenges",
        `the session was refused ${this.maxAttempts} times in a row; authenticate again`,
      );
      this.challengesInARow = 0;
      this.forgetSession();
      this.emit("authentication-error", { error });
      throw error;
    }
    if (this.challengesInARow > 1) {
      await sleep(Math.min(this.initialMs * 2 ** (this.challengesInARow - 2), this.maxMs));
      this.usable();
      // Another request may have started a challenge meanwhile.
      const started = this.pending as Pending | null;
      if (started) {
        await started.promise;
        return;
      }
    }
    this.token = null;
    this.state = "idle";
    await this.challenge(nonce);
  }

  private settle(how: (pending: Pending) => void): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    clearTimeout(pending.timer);
    how(pending);
  }

  /** One request; answers in the error envelope become TesseraErrors. */
  private async send<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
    let response: Response;
    try {
      response = await this.fetcher(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (cause) {
      throw new TesseraError("network_error", `the authority at ${this.base} could not be reached`, { cause });
    }
    const type = response.headers.get("content-type") ?? "";
    const json: unknown =
      method !== "HEAD" && response.status !== 204 && type.includes("json")
        ? await response.json().catch(() => undefined)
        : undefined;
    if (!response.ok) {
      const envelope = (json ?? {}) as { id?: unknown; code?: unknown; message?: unknown; data?: unknown };
      const data = typeof envelope.data === "object" && envelope.data !== null ? (envelope.data as Record<string, unknown>) : {};
      const retryAfter = response.headers.get("retry-after");
      if (retryAfter !== null && data["retry_after_secs"] === undefined) data["retry_after_secs"] = Number(retryAfter);
      throw new TesseraError(
        typeof envelope.id === "string" ? envelope.id : "http_error",
        typeof envelope.message === "string" ? envelope.message : `the authority answered ${response.status}`,
        { code: typeof envelope.code === "number" ? envelope.code : 0, status: response.status, data },
      );
    }
    return json as T;
  }
}

function deauthenticating(): TesseraError {
  return new TesseraError(
    "deauthenticating",
    "deauthentication is under way; wait for the deauthenticated event, then authenticate again",
  );
}

/** What to do after `POST /sessions` failed: send the same token again
 * (a 5xx whose `nonce_state` is `unused`), answer a new nonce (the nonce
 * may have been used: `nonce_state` `unknown` or absent on a 5xx, a
 * timeout, a lost answer), or give up. */
function afterFailedAnswer(failure: TesseraError): "same-token" | "new-nonce" | null {
  if (failure.id === "network_error") return "new-nonce";
  if (failure.status >= 500 || failure.status === 408) {
    return failure.data["nonce_state"] === "unused" ? "same-token" : "new-nonce";
  }
  return null;
}

function asTesseraError(error: unknown): TesseraError {
  if (error instanceof TesseraError) return error;
  return new TesseraError("client_error", error instanceof Error ? error.message : String(error), { cause: error });
}
