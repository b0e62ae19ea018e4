-- Refunds (issue 11): several per payment, each pending until the issuer
-- answers. A payment keeps what its refunds take (pending ones included),
-- so that the store can refuse, under its lock, a refund past what was
-- captured. An Idempotency-Key is the merchant's, one refund per key.

-- +goose Up
ALTER TABLE payments ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);
CREATE TABLE refunds (
    id              TEXT    NOT NULL PRIMARY KEY,
    payment_id      TEXT    NOT NULL REFERENCES payments (id),
    merchant_id     TEXT    NOT NULL REFERENCES merchants (id),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    currency        TEXT    NOT NULL,
    reason          TEXT    NOT NULL CHECK (reason IN ('', 'requested_by_customer', 'duplicate', 'fraudulent')),
    note            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason  TEXT    NOT NULL,
    idempotency_key TEXT,
    request_hash    BLOB,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';
CREATE UNIQUE INDEX refunds_idempotency ON refunds (merchant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP TABLE refunds;
ALTER TABLE payments DROP COLUMN amount_refunded;
