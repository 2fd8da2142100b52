-- Operator controls: opaque session ids and what is recorded about each
-- session; revoke-before per app and per user; suspension; the identity's
-- contact fields and metadata; the audit trail.

-- A session is shown to operators by an opaque id, never by its token.
-- Sessions opened before this migration get an id from their token's digest.
ALTER TABLE sessions ADD COLUMN session_id TEXT;
UPDATE sessions SET session_id = encode(substring(token_hash from 1 for 16), 'hex');
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ADD COLUMN client_address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
CREATE INDEX sessions_by_user ON sessions (app_id, user_id);

-- Sessions opened at or before this instant no longer work.
ALTER TABLE apps ADD COLUMN sessions_revoked_before BIGINT;

-- Per user: suspension and revoke-before. A row may exist before the
-- user's first session.
CREATE TABLE user_controls (
    app_id                  TEXT NOT NULL REFERENCES apps (app_id),
    user_id                 TEXT NOT NULL,
    suspended_at            BIGINT,
    sessions_revoked_before BIGINT,
    updated_at              BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

ALTER TABLE identities ADD COLUMN phone_number TEXT;
ALTER TABLE identities ADD COLUMN email_address TEXT;
-- A JSON object of at most 16 string members.
ALTER TABLE identities ADD COLUMN metadata TEXT;

-- Append-only; rows leave only when older than the retention.
CREATE TABLE audit_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    action         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    app_id         TEXT,
    user_id        TEXT,
    client_address TEXT,
    request_id     TEXT,
    detail         TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_user ON audit_events (app_id, user_id, seq);
