-- Japanese payment methods (issue 11): the methods a merchant offers (JSON
-- of checkout.PaymentMethodSettings; NULL: lump sum alone), a session's
-- restriction of them (JSON of checkout.PaymentMethodSet; NULL: the
-- merchant's), and the shopper's choice on the payment: its type and, for
-- installments, the count (0 otherwise). Payments made before are lump sum.

-- +goose Up
ALTER TABLE merchants ADD COLUMN payment_methods jsonb;
ALTER TABLE sessions ADD COLUMN payment_methods jsonb;
ALTER TABLE payments
    ADD COLUMN payment_method text NOT NULL DEFAULT 'lump_sum'
        CHECK (payment_method IN ('lump_sum', 'installments', 'bonus_lump_sum', 'revolving')),
    ADD COLUMN installments integer NOT NULL DEFAULT 0
        CHECK (installments IN (0, 3, 5, 6, 10, 12, 15, 18, 20, 24)),
    ADD CHECK ((payment_method = 'installments') = (installments > 0));

-- +goose Down
ALTER TABLE payments DROP COLUMN installments, DROP COLUMN payment_method;
ALTER TABLE sessions DROP COLUMN payment_methods;
ALTER TABLE merchants DROP COLUMN payment_methods;
