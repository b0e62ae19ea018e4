-- The security-code lockout (checkout/risk.Guard): a card that met too many
-- wrong security codes is locked, on every merchant and every instance,
-- until locked_until or until the operator unlocks it (checkoutd cards
-- unlock). Keyed by the card's keyed fingerprint (fp_...): no part of the
-- number is stored here. The failures themselves and the card-testing rate
-- limits are counted in risk_events (keys cvcfail:, rl_*:), hashed; the
-- card-number chunk rule counts a MAC of the first 12 digits under the
-- vault's key, never the digits.

-- +goose Up
CREATE TABLE card_locks (
    fingerprint  text COLLATE "C" NOT NULL PRIMARY KEY,
    locked_at    timestamptz      NOT NULL,
    locked_until timestamptz      NOT NULL,
    unlocked_at  timestamptz       -- the operator's last unlock; failures before it no longer count
);

CREATE INDEX card_locks_locked_until ON card_locks (locked_until);

-- +goose Down
DROP TABLE card_locks;
