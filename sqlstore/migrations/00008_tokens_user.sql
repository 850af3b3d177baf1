-- +goose Up
-- A user's pending links by kind: a password change, 2FA turned off or
-- reset, and a newer request revoke the older email-change links.
CREATE INDEX tokens_user ON tokens (user_id, kind);

-- +goose Down
DROP INDEX tokens_user;
