-- +goose Up
ALTER TABLE accounts ADD COLUMN require_2fa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_account ON tokens (account_id, kind);

-- Staff settings (2FA policy, remembered browsers, recovery waiting period).
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- "Don't ask again on this browser": a separate random token, stored hashed.
CREATE TABLE browsers (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX browsers_user ON browsers (user_id);

-- Lockout recovery requests.
CREATE TABLE recovery_requests (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message       TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    decided_at    BIGINT NOT NULL DEFAULT 0,
    decided_by    TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    effective_at  BIGINT NOT NULL DEFAULT 0,
    closed_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX recovery_status ON recovery_requests (status, created_at);
CREATE INDEX recovery_user ON recovery_requests (user_id, status);

-- +goose Down
DROP TABLE recovery_requests;
DROP TABLE browsers;
DROP TABLE settings;
DROP INDEX tokens_account;
ALTER TABLE tokens DROP COLUMN account_id;
ALTER TABLE accounts DROP COLUMN require_2fa;
