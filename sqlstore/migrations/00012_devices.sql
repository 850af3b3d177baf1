-- +goose Up
-- Browsers each user has completed a sign-in on, by the SHA-256 hash of a
-- long-lived random cookie (portal_known): a sign-in from any other
-- browser sends the user an alert.
CREATE TABLE known_devices (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);

-- A user's own choice about new sign-in alerts (absent: the staff default).
CREATE TABLE alert_prefs (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    new_device  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE alert_prefs;
DROP TABLE known_devices;
