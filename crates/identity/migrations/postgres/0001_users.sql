-- The identity service's users. Passwords are argon2id PHC strings.
-- Created in the `tessera_identity` schema (the connection's search_path),
-- so that the service can share a database with the authority.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name    TEXT,
    last_name     TEXT,
    display_name  TEXT,
    avatar_url    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
