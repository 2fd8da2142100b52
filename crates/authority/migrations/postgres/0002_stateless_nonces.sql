-- Nonces are no longer stored when issued: each carries its expiry and a
-- MAC under a key of `nonce_keys`. Only used nonces are recorded, until
-- they expire.

DROP TABLE nonces;

CREATE TABLE nonce_keys (
    key_id     BIGINT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE used_nonces (
    nonce_hash BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);
