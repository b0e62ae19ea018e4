-- Webhooks (endpoints, the outbox of events, deliveries and their attempts)
-- and chargebacks with the guarantee's coverage decisions.
--
-- Nothing here signs: an endpoint's secret is derived from its id by the
-- vault (checkout.WebhookSecret), never stored. Event payloads are the
-- merchant API's views, so they hold no more of a card than brand, last 4
-- and expiry; the delivery log keeps status codes and our error text,
-- never what the merchant's server answered.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    url         TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER  -- NULL while live; kept afterwards for the delivery log
) STRICT;

CREATE INDEX webhook_endpoints_merchant_id ON webhook_endpoints (merchant_id);

-- The event types each endpoint receives.
CREATE TABLE webhook_subscriptions (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
) STRICT;

-- The outbox: every event, with the exact body its webhooks carry.
CREATE TABLE webhook_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    type        TEXT    NOT NULL,
    payload     BLOB    NOT NULL,  -- JSON {id, type, created, data}
    created_at  INTEGER NOT NULL
) STRICT;

-- One event on its way to one endpoint. A dispatcher claims a due delivery
-- by setting locked_until (its lease) and lock_token in one conditional
-- update; only the holder of the token records the outcome.
CREATE TABLE webhook_deliveries (
    id               TEXT    NOT NULL PRIMARY KEY,
    event_id         TEXT    NOT NULL REFERENCES webhook_events (id),
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    merchant_id      TEXT    NOT NULL REFERENCES merchants (id),
    event_type       TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  INTEGER,  -- when it is due; NULL unless pending
    locked_until     INTEGER,  -- the lease of the dispatcher sending it
    lock_token       TEXT,
    created_at       INTEGER NOT NULL,
    completed_at     INTEGER,
    UNIQUE (event_id, endpoint_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_merchant ON webhook_deliveries (merchant_id, created_at);
CREATE INDEX webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id);

-- Every POST of a delivery.
CREATE TABLE webhook_attempts (
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    n           INTEGER NOT NULL CHECK (n >= 1),
    at          INTEGER NOT NULL,
    status_code INTEGER NOT NULL,  -- 0 when no answer came
    latency_us  INTEGER NOT NULL,
    error       TEXT    NOT NULL CHECK (length(error) <= 200),
    PRIMARY KEY (delivery_id, n)
) STRICT;

-- A merchant's chargeback guarantee. The row is also what concurrent
-- chargebacks of one merchant serialise on; NULL cap and currency mean the
-- default (checkout.DefaultGuarantee) applies.
CREATE TABLE guarantees (
    merchant_id TEXT    NOT NULL PRIMARY KEY REFERENCES merchants (id),
    yearly_cap  INTEGER CHECK (yearly_cap >= 0),
    currency    TEXT,
    updated_at  INTEGER,
    CHECK ((yearly_cap IS NULL) = (currency IS NULL))
) STRICT;

CREATE TABLE chargebacks (
    id                TEXT    NOT NULL PRIMARY KEY,
    merchant_id       TEXT    NOT NULL REFERENCES merchants (id),
    payment_id        TEXT    NOT NULL REFERENCES payments (id),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT    NOT NULL,
    reason_code       TEXT    NOT NULL,
    reason            TEXT    NOT NULL,
    risk_verdict      TEXT    NOT NULL,  -- the payment's verdict when recorded; '' when it was not screened
    occurred_at       INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    -- The coverage decision, made once at creation.
    guarantee_year    INTEGER NOT NULL,  -- calendar year in JST
    covered           INTEGER NOT NULL CHECK (covered IN (0, 1)),
    covered_amount    INTEGER NOT NULL CHECK (covered_amount >= 0 AND covered_amount <= amount),
    coverage_currency TEXT    NOT NULL,
    coverage_reason   TEXT    NOT NULL,
    liability_shift   INTEGER NOT NULL CHECK (liability_shift IN (0, 1)),
    CHECK (covered = 1 OR covered_amount = 0)
) STRICT;

CREATE INDEX chargebacks_payment_id ON chargebacks (payment_id);
CREATE INDEX chargebacks_merchant_year ON chargebacks (merchant_id, guarantee_year, created_at);

-- +goose Down
DROP TABLE chargebacks;
DROP TABLE guarantees;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_subscriptions;
DROP TABLE webhook_endpoints;
