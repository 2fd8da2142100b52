/**
 * The browser client of the Tessera authority.
 *
 * ```ts
 * import { Client } from "tessera-client";
 *
 * const client = new Client({ authority: "https://auth.example.com", appId });
 * client.on("authentication-challenge", async ({ nonce }) => {
 *   // Your backend checks the user and signs an identity token for the nonce.
 *   const token = await myBackend.identityToken(nonce);
 *   await client.answerAuthenticationChallenge(token);
 * });
 * client.on("authenticated", ({ userId }) => show(userId));
 * await client.connect();
 * await client.authenticate();
 * ```
 *
 * @packageDocumentation
 */
export { Client } from "./client.js";
export type { ClientOptions, DeauthenticateOptions } from "./client.js";
export { TesseraError } from "./errors.js";
export { LocalData, MemoryStorage } from "./local-data.js";
export type { StorageLike } from "./local-data.js";
export type { ClientEvents, Identity, Session } from "./types.js";
