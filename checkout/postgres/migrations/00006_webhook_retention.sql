-- Webhook retention: the dispatcher deletes events (with their deliveries
-- and attempts) older than the retention once none is pending, oldest
-- first, in bounded batches. This index finds them without a full scan.

-- +goose Up
CREATE INDEX webhook_events_created_at ON webhook_events (created_at);

-- +goose Down
DROP INDEX webhook_events_created_at;
