-- +goose Up
-- A user's credential epoch: a password change, 2FA turned on or off and a
-- staff reset move it on, and a session (and a device cookie) is only good
-- for the epoch it was signed in with. A sign-in that was still running
-- when the credentials changed therefore gets a session that is dead on
-- arrival, whatever the order in which the two transactions commit.
ALTER TABLE users ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN auth_epoch;
ALTER TABLE users DROP COLUMN auth_epoch;
