-- +goose Up
-- Staff console (SPEC §10): the 2FA status of every user is copied onto the
-- user so the list can filter and page on an index at millions of users.
-- sqlstore.refreshTwoFactor keeps the copies right in the same transaction
-- as every change to confirmed methods (ConfirmMethod, DeleteMethod,
-- DisableTwoFactor).
--   twofa          1 when the user has a confirmed method
--   twofa_methods  the confirmed method types, sorted, comma-separated
--   twofa_since    the earliest confirmed_at of those methods (0: none),
--                  for the adoption chart
ALTER TABLE users ADD COLUMN twofa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN twofa_methods TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN twofa_since BIGINT NOT NULL DEFAULT 0;

-- One row per user and confirmed method type, with the user's created_at so
-- that "users with method X, newest first" is one index range whatever
-- share of users has X (a LIKE on twofa_methods would scan).
CREATE TABLE user_method_types (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, type)
);
CREATE INDEX user_method_types_list ON user_method_types (type, created_at, user_id);

-- Backfill from the methods already confirmed.
INSERT INTO user_method_types (user_id, type, created_at)
    SELECT DISTINCT m.user_id, m.type, u.created_at
    FROM methods m JOIN users u ON u.id = m.user_id
    WHERE m.confirmed_at > 0;
UPDATE users SET twofa = 1,
        twofa_since = (SELECT MIN(m.confirmed_at) FROM methods m WHERE m.user_id = users.id AND m.confirmed_at > 0)
    WHERE id IN (SELECT user_id FROM user_method_types);
-- SQLite and PostgreSQL name their string aggregates differently, so the
-- list is spelt out over the five method types that exist, in sorted order;
-- SUBSTR drops the leading comma.
UPDATE users SET twofa_methods = SUBSTR(
        CASE WHEN EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = users.id AND t.type = 'email') THEN ',email' ELSE '' END ||
        CASE WHEN EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = users.id AND t.type = 'totp') THEN ',totp' ELSE '' END ||
        CASE WHEN EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = users.id AND t.type = 'webauthn') THEN ',webauthn' ELSE '' END ||
        CASE WHEN EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = users.id AND t.type = 'whatsapp') THEN ',whatsapp' ELSE '' END ||
        CASE WHEN EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = users.id AND t.type = 'yubico_otp') THEN ',yubico_otp' ELSE '' END,
        2)
    WHERE twofa = 1;

-- Keyset order of the list is (created_at DESC, id DESC); each filter gets an
-- index that starts with its equality column and ends in that order, so a
-- page is one index range read backwards. users_account (account_id, ...)
-- and users_role (role, ...) exist since 00001.
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX users_twofa ON users (twofa, created_at, id);
-- Adoption statistics by role count from this index alone, and the
-- adoption chart reads the range of twofa_since it shows.
CREATE INDEX users_role_twofa ON users (role, twofa);
CREATE INDEX users_twofa_since ON users (twofa_since);

-- +goose Down
DROP INDEX users_twofa_since;
DROP INDEX users_role_twofa;
DROP INDEX users_twofa;
DROP INDEX users_created;
DROP TABLE user_method_types;
ALTER TABLE users DROP COLUMN twofa_since;
ALTER TABLE users DROP COLUMN twofa_methods;
ALTER TABLE users DROP COLUMN twofa;
