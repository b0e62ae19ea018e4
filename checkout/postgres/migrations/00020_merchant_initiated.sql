-- Merchant-initiated charges (issue 12): who began a payment ('customer'
-- on the page, 'merchant' charging a saved card without its shopper) and,
-- for the merchant's, why; and, on a saved card, the customer-initiated
-- payment in which the shopper agreed to keep it, which later charges
-- refer to. Payments made before are the customer's.

-- +goose Up
ALTER TABLE payments
    ADD COLUMN initiator text NOT NULL DEFAULT 'customer' CHECK (initiator IN ('customer', 'merchant')),
    ADD COLUMN mit_reason text CHECK (mit_reason IN ('unscheduled', 'recurring'));
ALTER TABLE saved_cards ADD COLUMN initial_payment_id text COLLATE "C";

-- +goose Down
ALTER TABLE saved_cards DROP COLUMN initial_payment_id;
ALTER TABLE payments DROP COLUMN mit_reason, DROP COLUMN initiator;
