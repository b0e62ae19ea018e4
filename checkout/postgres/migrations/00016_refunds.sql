-- Refunds (issue 11): several per payment, each pending until the issuer
-- answers. A payment keeps what its refunds take (pending ones included),
-- so that the store can refuse, under the payment's row lock, a refund
-- past what was captured. An Idempotency-Key is the merchant's, one refund
-- per key.

-- +goose Up
ALTER TABLE payments ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);
CREATE TABLE refunds (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    payment_id      text COLLATE "C" NOT NULL REFERENCES payments (id),
    merchant_id     text COLLATE "C" NOT NULL REFERENCES merchants (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL,
    reason          text        NOT NULL CHECK (reason IN ('', 'requested_by_customer', 'duplicate', 'fraudulent')),
    note            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason  text        NOT NULL,
    idempotency_key text,
    request_hash    bytea,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';
CREATE UNIQUE INDEX refunds_idempotency ON refunds (merchant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP TABLE refunds;
ALTER TABLE payments DROP COLUMN amount_refunded;
