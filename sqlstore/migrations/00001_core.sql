-- +goose Up
-- One schema for SQLite and PostgreSQL: text ids made by the application,
-- Unix-time integers, 0/1 integers for flags.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL DEFAULT '',
    email              TEXT NOT NULL,
    email_key          TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    role               TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    disabled           INTEGER NOT NULL DEFAULT 0,
    email_verified_at  BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    last_login_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_account ON users (account_id, created_at, id);
CREATE INDEX users_role ON users (role, created_at, id);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    reauth_at     BIGINT NOT NULL DEFAULT 0,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL,
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_user ON events (user_id, created_at);
CREATE INDEX events_created ON events (created_at);

-- Attempt counters shared by every replica (see portal.LimitPolicy).
CREATE TABLE limits (
    key           TEXT PRIMARY KEY,
    n             INTEGER NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL
);

-- One-time links, stored hashed (first administrator set-up, later email
-- verification and invitations).
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE limits;
DROP TABLE events;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE accounts;
