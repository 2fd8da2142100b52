-- The digest of the nonce each session was opened with, unique: one nonce
-- opens at most one session, enforced by the sessions table itself,
-- whatever a separate used-nonce store (Redis) remembers or loses. NULL for
-- sessions opened before this migration.
ALTER TABLE sessions ADD COLUMN nonce_hash BLOB;
CREATE UNIQUE INDEX sessions_by_nonce ON sessions (nonce_hash);
