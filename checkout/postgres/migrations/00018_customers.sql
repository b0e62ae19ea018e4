-- Card on file (issue 12): a merchant's customers and the cards they saved.
-- A customer is deleted by marking it (its id stays a reference); its saved
-- cards are removed, and the vault's copy of their numbers erased
-- (cards.ciphertext emptied, erased_at set) in the same transaction. A
-- saved card holds no more of the card than a payment: its vault token,
-- brand, last 4, expiry, fingerprint; and the shopper's consent.

-- +goose Up
CREATE TABLE customers (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id),
    reference   text COLLATE "C", -- the merchant's own id; NULL when none
    email       text             NOT NULL,
    name        text             NOT NULL,
    created_at  timestamptz      NOT NULL,
    deleted_at  timestamptz
);

CREATE INDEX customers_merchant_id ON customers (merchant_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX customers_reference ON customers (merchant_id, reference)
    WHERE reference IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE saved_cards (
    id             text COLLATE "C" NOT NULL PRIMARY KEY,
    customer_id    text COLLATE "C" NOT NULL REFERENCES customers (id),
    card_token     text COLLATE "C" NOT NULL REFERENCES cards (token),
    fingerprint    text COLLATE "C" NOT NULL,
    brand          text             NOT NULL,
    last4          text             NOT NULL CHECK (length(last4) <= 4),
    exp_month      integer          NOT NULL,
    exp_year       integer          NOT NULL,
    consent_text   text             NOT NULL,
    consent_locale text             NOT NULL,
    consent_at     timestamptz      NOT NULL,
    created_at     timestamptz      NOT NULL,
    last_used_at   timestamptz,
    UNIQUE (customer_id, fingerprint)
);

ALTER TABLE cards ADD COLUMN erased_at timestamptz;

-- +goose Down
ALTER TABLE cards DROP COLUMN erased_at;
DROP TABLE saved_cards;
DROP TABLE customers;
