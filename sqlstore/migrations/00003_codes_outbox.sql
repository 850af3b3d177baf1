-- +goose Up
-- One-time codes sent by email or WhatsApp; hash is keyed (HMAC), never the code.
CREATE TABLE codes (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    binding      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    hash         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX codes_user ON codes (user_id, channel, created_at);
CREATE INDEX codes_destination ON codes (destination, created_at);

-- The durable outbox of security emails.
CREATE TABLE outbox (
    id            TEXT PRIMARY KEY,
    to_addr       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body_text     TEXT NOT NULL,
    body_html     TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    next_at       BIGINT NOT NULL,
    locked_by     TEXT NOT NULL DEFAULT '',
    locked_until  BIGINT NOT NULL DEFAULT 0,
    sent_at       BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (sent_at, next_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE codes;
