-- The platform's verdict (risk.PlatformSettings) beside the merchant's on
-- every screened attempt and payment, and on each chargeback the verdict
-- its coverage was decided on: the guarantee pays only where both are OK.
-- Rows written before it existed have NULL (payments, attempts) or ''
-- (chargebacks): such a payment was never judged by the platform's policy,
-- so a chargeback on it is not covered.

-- +goose Up
ALTER TABLE payments ADD COLUMN risk_platform TEXT; -- JSON of {verdict, score, reasons}
ALTER TABLE attempts ADD COLUMN risk_platform TEXT;
ALTER TABLE chargebacks ADD COLUMN platform_verdict TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE chargebacks DROP COLUMN platform_verdict;
ALTER TABLE attempts DROP COLUMN risk_platform;
ALTER TABLE payments DROP COLUMN risk_platform;
