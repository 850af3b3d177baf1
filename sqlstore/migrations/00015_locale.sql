-- +goose Up
-- The language a user chose ('' = none: the browser's is used).
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN locale;
