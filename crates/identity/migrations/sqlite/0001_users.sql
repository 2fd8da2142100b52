-- The identity service's users. Passwords are argon2id PHC strings.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name    TEXT,
    last_name     TEXT,
    display_name  TEXT,
    avatar_url    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
