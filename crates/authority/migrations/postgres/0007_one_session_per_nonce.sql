-- With used nonces kept elsewhere (Redis), the digest of the nonce each
-- session was opened with, unique: one nonce opens at most one session,
-- enforced by the sessions table itself, whatever Redis remembers or loses.
-- NULL where the database keeps used nonces (their record is written in the
-- session's transaction, under its own key) and for older sessions; the
-- index holds only the digests.
ALTER TABLE sessions ADD COLUMN nonce_hash BYTEA;
CREATE UNIQUE INDEX sessions_by_nonce ON sessions (nonce_hash) WHERE nonce_hash IS NOT NULL;
