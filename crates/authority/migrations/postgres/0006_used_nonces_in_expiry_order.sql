-- Used nonces kept in expiry order. A nonce carries its expiry, so
-- (expires_at, nonce_hash) is exactly as unique as the hash alone; keyed so,
-- a nonce marked used lands at the end of the key's index instead of at a
-- random place, and the purge uses that index instead of a second one.
ALTER TABLE used_nonces DROP CONSTRAINT used_nonces_pkey;
ALTER TABLE used_nonces ADD PRIMARY KEY (expires_at, nonce_hash);
DROP INDEX used_nonces_by_expiry;
