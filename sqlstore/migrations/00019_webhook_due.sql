-- +goose Up
-- Each endpoint's due deliveries, oldest first: the worker claims a few of
-- every endpoint's at a time (ClaimWebhooks), so one endpoint's backlog
-- neither keeps the others waiting nor makes each claim read it all.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_at, id) WHERE delivered_at = 0 AND failed_at = 0;
-- Deliveries of endpoints deleted while events were being queued (before
-- QueueWebhooks checked): a claim goes by endpoint and would never reach
-- them, and deleting an endpoint deletes its deliveries.
DELETE FROM webhook_deliveries WHERE endpoint_id NOT IN (SELECT id FROM webhook_endpoints);

-- +goose Down
DROP INDEX webhook_deliveries_endpoint_due;
