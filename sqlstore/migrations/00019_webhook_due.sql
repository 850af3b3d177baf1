-- +goose Up
-- Each endpoint's due deliveries, oldest first: the worker claims a few of
-- every endpoint's at a time (ClaimWebhooks), so one endpoint's backlog
-- neither keeps the others waiting nor makes each claim read it all.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_at, id) WHERE delivered_at = 0 AND failed_at = 0;

-- +goose Down
DROP INDEX webhook_deliveries_endpoint_due;
