-- Nonces are no longer stored when issued: each carries its expiry and a
-- MAC under a key of `nonce_keys`. Only used nonces are recorded, until
-- they expire.

DROP TABLE nonces;

CREATE TABLE nonce_keys (
    key_id     INTEGER PRIMARY KEY NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE used_nonces (
    nonce_hash BLOB PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);
