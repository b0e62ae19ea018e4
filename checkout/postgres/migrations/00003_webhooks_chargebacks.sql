-- Webhooks (endpoints, the outbox of events, deliveries and their attempts)
-- and chargebacks with the guarantee's coverage decisions: the same tables,
-- columns and checks as checkout/sqlite's 00003, in PostgreSQL's types.
--
-- Nothing here signs: an endpoint's secret is derived from its id by the
-- vault (checkout.WebhookSecret), never stored. Event payloads are the
-- merchant API's views, so they hold no more of a card than brand, last 4
-- and expiry; the delivery log keeps status codes and our error text,
-- never what the merchant's server answered.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id),
    url         text             NOT NULL,
    created_at  timestamptz      NOT NULL,
    deleted_at  timestamptz  -- NULL while live; kept afterwards for the delivery log
);

CREATE INDEX webhook_endpoints_merchant_id ON webhook_endpoints (merchant_id);

-- The event types each endpoint receives.
CREATE TABLE webhook_subscriptions (
    endpoint_id text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id),
    event_type  text COLLATE "C" NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

CREATE INDEX webhook_subscriptions_event_type ON webhook_subscriptions (event_type);

-- The outbox: every event, with the exact body its webhooks carry.
CREATE TABLE webhook_events (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id),
    type        text COLLATE "C" NOT NULL,
    payload     bytea            NOT NULL,  -- JSON {id, type, created, data}, byte for byte as signed
    created_at  timestamptz      NOT NULL
);

CREATE INDEX webhook_events_merchant_id ON webhook_events (merchant_id);

-- One event on its way to one endpoint. A dispatcher claims due deliveries
-- with SELECT ... FOR UPDATE SKIP LOCKED and sets locked_until (its lease)
-- and lock_token; only the holder of the token records the outcome.
CREATE TABLE webhook_deliveries (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL REFERENCES webhook_events (id),
    endpoint_id     text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id),
    merchant_id     text COLLATE "C" NOT NULL REFERENCES merchants (id),
    event_type      text COLLATE "C" NOT NULL,
    status          text             NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts        integer          NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,  -- when it is due; NULL unless pending
    locked_until    timestamptz,  -- the lease of the dispatcher sending it
    lock_token      text COLLATE "C",
    created_at      timestamptz      NOT NULL,
    completed_at    timestamptz,
    CONSTRAINT webhook_deliveries_event_endpoint_key UNIQUE (event_id, endpoint_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_merchant ON webhook_deliveries (merchant_id, created_at);
CREATE INDEX webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id);

-- Every POST of a delivery.
CREATE TABLE webhook_attempts (
    delivery_id text COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id),
    n           integer          NOT NULL CHECK (n >= 1),
    at          timestamptz      NOT NULL,
    status_code integer          NOT NULL,  -- 0 when no answer came
    latency_us  bigint           NOT NULL,
    error       text             NOT NULL CHECK (octet_length(error) <= 200),
    PRIMARY KEY (delivery_id, n)
);

-- A merchant's chargeback guarantee. The row is also what concurrent
-- chargebacks of one merchant lock (FOR UPDATE); NULL cap and currency mean
-- the default (checkout.DefaultGuarantee) applies.
CREATE TABLE guarantees (
    merchant_id text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES merchants (id),
    yearly_cap  bigint CHECK (yearly_cap >= 0),
    currency    text,
    updated_at  timestamptz,
    CHECK ((yearly_cap IS NULL) = (currency IS NULL))
);

CREATE TABLE chargebacks (
    id                text COLLATE "C" NOT NULL PRIMARY KEY,
    merchant_id       text COLLATE "C" NOT NULL REFERENCES merchants (id),
    payment_id        text COLLATE "C" NOT NULL REFERENCES payments (id),
    amount            bigint           NOT NULL CHECK (amount > 0),
    currency          text             NOT NULL,
    reason_code       text             NOT NULL,
    reason            text             NOT NULL,
    risk_verdict      text             NOT NULL,  -- the payment's verdict when recorded; '' when it was not screened
    occurred_at       timestamptz      NOT NULL,
    created_at        timestamptz      NOT NULL,
    -- The coverage decision, made once at creation.
    guarantee_year    integer          NOT NULL,  -- calendar year in JST
    covered           boolean          NOT NULL,
    covered_amount    bigint           NOT NULL CHECK (covered_amount >= 0 AND covered_amount <= amount),
    coverage_currency text             NOT NULL,
    coverage_reason   text             NOT NULL,
    liability_shift   boolean          NOT NULL,
    CHECK (covered OR covered_amount = 0)
);

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
