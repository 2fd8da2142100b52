/** An error of the Tessera client: an answer of the authority in its error
 * envelope (`id`, `code`, `message`, `data`), or one of the client's own
 * (`network_error`, `deauthenticating`, `not_authenticated`,
 * `too_many_challenges`, `challenge_timeout`, `challenge_rejected`). */
export class TesseraError extends Error {
  /** The error id (`authentication_required`, `invalid_identity_token`, …). */
  readonly id: string;
  /** Layer's numeric code; 0 for the client's own errors. */
  readonly code: number;
  /** The HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** Details: `reason`, `property`, `nonce`, `retry_after_secs`, … */
  readonly data: Record<string, unknown>;

  constructor(
    id: string,
    message: string,
    options: { code?: number; status?: number; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message);
    this.name = "TesseraError";
    this.id = id;
    this.code = options.code ?? 0;
    this.status = options.status ?? 0;
    this.data = options.data ?? {};
    if (options.cause !== undefined) {
      (this as { cause?: unknown }).cause = options.cause;
    }
  }
}
