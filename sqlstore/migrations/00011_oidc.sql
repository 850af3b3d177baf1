-- +goose Up
-- How the user proved who they are when the session was signed in
-- (RFC 8176 values, space-separated), for OpenID Connect's amr and acr.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';

-- Apps that sign in through the portal (OpenID Connect clients). The
-- secret is stored only as a SHA-256 hash; lists are newline-separated.
CREATE TABLE oidc_apps (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    logo_url          TEXT NOT NULL DEFAULT '',
    secret_hash       TEXT NOT NULL DEFAULT '',
    redirect_uris     TEXT NOT NULL,
    post_logout_uris  TEXT NOT NULL DEFAULT '',
    public            INTEGER NOT NULL DEFAULT 0,
    skip_consent      INTEGER NOT NULL DEFAULT 0,
    requires_2fa      INTEGER NOT NULL DEFAULT 0,
    scopes            TEXT NOT NULL,
    grant_types       TEXT NOT NULL,
    signing_alg       TEXT NOT NULL DEFAULT 'ES256',
    created_at        BIGINT NOT NULL
);

-- Authorization requests, from /authorize to the code's redemption. The
-- code is stored only as a hash; code_used_at makes it single use.
CREATE TABLE oidc_requests (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES oidc_apps (id) ON DELETE CASCADE,
    data          TEXT NOT NULL,
    user_id       TEXT NOT NULL DEFAULT '',
    auth_time     BIGINT NOT NULL DEFAULT 0,
    amr           TEXT NOT NULL DEFAULT '',
    done          INTEGER NOT NULL DEFAULT 0,
    -- the session that completed it: only that browser collects the code
    session_id    TEXT NOT NULL DEFAULT '',
    code_hash     TEXT,
    code_used_at  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX oidc_requests_code ON oidc_requests (code_hash);
CREATE INDEX oidc_requests_expires ON oidc_requests (expires_at);

-- Access and refresh tokens, by the SHA-256 hash of the token (or of the
-- token id the access token carries). A grant is everything issued from
-- one authorization: reuse of its code or of a rotated refresh token
-- revokes all of it.
CREATE TABLE oidc_tokens (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    grant_id    TEXT NOT NULL,
    app_id      TEXT NOT NULL REFERENCES oidc_apps (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL DEFAULT '',
    scopes      TEXT NOT NULL,
    amr         TEXT NOT NULL DEFAULT '',
    auth_time   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_user ON oidc_tokens (user_id, app_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);

-- What a user allowed an app (remembered consent).
CREATE TABLE oidc_consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES oidc_apps (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id)
);

-- ID token signing keys; the private key is sealed with PORTAL_SECRET_KEYS.
-- A retired key stays published until the tokens it signed have expired.
CREATE TABLE oidc_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE oidc_keys;
DROP TABLE oidc_consents;
DROP TABLE oidc_tokens;
DROP TABLE oidc_requests;
DROP TABLE oidc_apps;
ALTER TABLE sessions DROP COLUMN amr;
