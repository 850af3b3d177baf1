-- +goose Up
-- The mailer seals outbox bodies (AES-256-GCM, the message id bound), so no
-- link or notice rests in the database in clear; rows queued before stay
-- plain (sealed = 0) and go out as they are.
ALTER TABLE outbox ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
-- Delivered messages keep no body.
UPDATE outbox SET body_text = '', body_html = '' WHERE sent_at > 0;

-- +goose Down
ALTER TABLE outbox DROP COLUMN sealed;
