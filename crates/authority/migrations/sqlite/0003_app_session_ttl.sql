-- An app's own session lifetime, in seconds (30..=31536000); NULL: the
-- authority's `sessions.ttl_secs`. Applies to sessions opened afterwards.

ALTER TABLE apps ADD COLUMN session_ttl_secs INTEGER;
