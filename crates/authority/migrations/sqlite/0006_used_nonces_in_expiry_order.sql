-- Used nonces kept in expiry order. A nonce carries its expiry, so
-- (expires_at, nonce_hash) is exactly as unique as the hash alone; keyed so,
-- a nonce marked used lands at the end of the table instead of at a random
-- place, and the purge deletes from its start without a second index.
CREATE TABLE used_nonces_in_expiry_order (
    expires_at INTEGER NOT NULL,
    nonce_hash BLOB NOT NULL,
    PRIMARY KEY (expires_at, nonce_hash)
) WITHOUT ROWID;
INSERT INTO used_nonces_in_expiry_order (expires_at, nonce_hash)
    SELECT expires_at, nonce_hash FROM used_nonces;
DROP TABLE used_nonces;
ALTER TABLE used_nonces_in_expiry_order RENAME TO used_nonces;
