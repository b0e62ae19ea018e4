-- Card on file (issue 12): a merchant's customers and the cards they saved.
-- A customer is deleted by marking it (its id stays a reference); its saved
-- cards are removed, and the vault's copy of their numbers erased
-- (cards.ciphertext emptied, erased_at set) in the same transaction. A
-- saved card holds no more of the card than a payment: its vault token,
-- brand, last 4, expiry, fingerprint; and the shopper's consent.

-- +goose Up
CREATE TABLE customers (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    reference   TEXT,   -- the merchant's own id; NULL when none
    email       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
) STRICT;

CREATE INDEX customers_merchant_id ON customers (merchant_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX customers_reference ON customers (merchant_id, reference)
    WHERE reference IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE saved_cards (
    id             TEXT    NOT NULL PRIMARY KEY,
    customer_id    TEXT    NOT NULL REFERENCES customers (id),
    card_token     TEXT    NOT NULL REFERENCES cards (token),
    fingerprint    TEXT    NOT NULL,
    brand          TEXT    NOT NULL,
    last4          TEXT    NOT NULL CHECK (length(last4) <= 4),
    exp_month      INTEGER NOT NULL,
    exp_year       INTEGER NOT NULL,
    consent_text   TEXT    NOT NULL,
    consent_locale TEXT    NOT NULL,
    consent_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    UNIQUE (customer_id, fingerprint)
) STRICT;

ALTER TABLE cards ADD COLUMN erased_at INTEGER;

-- +goose Down
ALTER TABLE cards DROP COLUMN erased_at;
DROP TABLE saved_cards;
DROP TABLE customers;
