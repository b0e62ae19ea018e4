-- Per-merchant card-testing rate limits (risk.Limits): one row per merchant
-- and layer. 'operator' is what the operator set for the merchant (checkoutd
-- limits set), over the platform's flags; 'merchant' is the merchant's own,
-- stricter only (PUT /v1/risk/settings, card_testing). No row: the layer
-- beneath applies. The lockout stays platform-wide and has no row here.
-- Changes are audited in audit_log in the same transaction.

-- +goose Up
CREATE TABLE merchant_limits (
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id),
    layer       text             NOT NULL CHECK (layer IN ('operator', 'merchant')),
    limits      jsonb            NOT NULL, -- JSON of risk.LimitOverrides
    updated_at  timestamptz      NOT NULL,
    PRIMARY KEY (merchant_id, layer)
);

-- +goose Down
DROP TABLE merchant_limits;
