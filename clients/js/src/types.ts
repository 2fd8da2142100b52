/** A user's identity as the authority answers it (Layer's identity). */
export interface Identity {
  /** `layer:///identities/<url-encoded user id>`. */
  id: string;
  /** This identity at the authority. */
  url: string;
  user_id: string;
  app_id: string;
  display_name: string | null;
  avatar_url: string | null;
  first_name: string | null;
  last_name: string | null;
  phone_number: string | null;
  email_address: string | null;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
}

/** The answer of `POST /sessions`. */
export interface Session {
  session_token: string;
  user_id: string;
  identity: Identity;
  expires_at: string;
}

/** The client's events and what each carries. */
export interface ClientEvents {
  /** The authority answered `connect()`. */
  connected: { authority: string };
  /** Get an identity token for this nonce from your identity service and
   * pass it to `answerAuthenticationChallenge`. */
  "authentication-challenge": { nonce: string };
  /** A session is open for `userId` (`restored`: read from storage). */
  authenticated: { userId: string; restored: boolean };
  /** The challenge could not be answered with a session. */
  "authentication-error": { error: import("./errors.js").TesseraError };
  /** The session has ended; the user's local data was kept or deleted. */
  deauthenticated: { userId: string; keptLocalData: boolean };
}
