-- The expiry sweep (checkout.Service.ExpireAuthorizations) reads the
-- payments awaiting capture whose authorization has passed its end; only
-- those are in this index, so it stays the size of what awaits capture.

-- +goose Up
CREATE INDEX payments_awaiting_capture ON payments (authorized_until) WHERE status IN ('authorized', 'held');

-- +goose Down
DROP INDEX payments_awaiting_capture;
