-- +goose Up
-- The sweep of sessions past their absolute timeout reads this index, in
-- batches, instead of the whole table.
CREATE INDEX sessions_created ON sessions (created_at);

-- +goose Down
DROP INDEX sessions_created;
