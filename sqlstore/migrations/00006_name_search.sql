-- +goose Up
-- Name-prefix search in the staff console (lower(name) >= q AND < q+1).
CREATE INDEX users_name_lower ON users (lower(name));

-- +goose Down
DROP INDEX users_name_lower;
