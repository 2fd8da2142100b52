-- Apps, their provider and its keys; sessions and identities; nonces.
-- Times are seconds since the epoch.

CREATE TABLE apps (
    app_id      TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL UNIQUE,
    environment TEXT NOT NULL CHECK (environment IN ('staging', 'production')),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE keys (
    kid         TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES apps (provider_id),
    spki_der    BYTEA NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX keys_by_provider ON keys (provider_id);

CREATE TABLE identities (
    app_id       TEXT NOT NULL REFERENCES apps (app_id),
    user_id      TEXT NOT NULL,
    first_name   TEXT,
    last_name    TEXT,
    display_name TEXT,
    avatar_url   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    app_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Only the SHA-256 of a nonce is stored. A used nonce stays until it expires.
CREATE TABLE nonces (
    nonce_hash BYTEA PRIMARY KEY,
    app_id     TEXT,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX nonces_by_expiry ON nonces (expires_at);
