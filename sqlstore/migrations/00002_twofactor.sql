-- +goose Up
ALTER TABLE users ADD COLUMN preferred_method TEXT NOT NULL DEFAULT '';

-- Second-factor methods. secret is sealed (AES-256-GCM, key id prefix).
CREATE TABLE methods (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    secret        TEXT NOT NULL DEFAULT '',
    data          TEXT NOT NULL DEFAULT '',
    confirmed_at  BIGINT NOT NULL DEFAULT 0,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX methods_user ON methods (user_id, confirmed_at);

-- One backup code set per user: argon2id parameters and salt shared by the set.
CREATE TABLE backup_sets (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    params      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE backup_codes (
    set_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash     TEXT NOT NULL,
    used_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE backup_codes;
DROP TABLE backup_sets;
DROP TABLE methods;
ALTER TABLE users DROP COLUMN preferred_method;
