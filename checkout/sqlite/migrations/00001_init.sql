-- The first schema of the embedded store.
--
-- Times are INTEGER nanoseconds since the Unix epoch (UTC): integers compare
-- correctly in SQL (expires_at > ?) and round-trip exactly. NULL means "not
-- set" (the zero time.Time).
--
-- No table has, or may ever get, a column for a card security code (PCI DSS
-- 3.3.1.2); card numbers exist only as ciphertext in cards (PCI DSS 3.5.1).
-- Tables are STRICT so that a value of the wrong type is refused, not stored.

-- +goose Up
CREATE TABLE merchants (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    -- SHA-256 of the secret key. The length check refuses a raw key passed
    -- by mistake: the key itself is shown once and never stored.
    api_key_hash BLOB    NOT NULL UNIQUE CHECK (length(api_key_hash) = 32),
    created_at   INTEGER NOT NULL
) STRICT;

-- One row per registered origin; position keeps the merchant's order.
CREATE TABLE merchant_origins (
    merchant_id TEXT    NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    scheme      TEXT    NOT NULL CHECK (scheme IN ('https', 'http')),
    host        TEXT    NOT NULL,
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (merchant_id, position)
) STRICT;

CREATE TABLE sessions (
    id               TEXT    NOT NULL PRIMARY KEY,
    merchant_id      TEXT    NOT NULL REFERENCES merchants (id),
    amount           INTEGER NOT NULL CHECK (amount > 0),
    currency         TEXT    NOT NULL,
    order_id         TEXT    NOT NULL,
    success_url      TEXT    NOT NULL,
    cancel_url       TEXT    NOT NULL,
    locale           TEXT    NOT NULL,
    result_delivery  TEXT    NOT NULL,
    customer_email   TEXT    NOT NULL,
    shipping         TEXT,  -- JSON of checkout.Address; NULL when there is none
    status           TEXT    NOT NULL CHECK (status IN ('open', 'processing', 'paid', 'expired')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- No foreign key: payments already points here, and a cycle would make
    -- every write order-sensitive. payments.session_id is the real link.
    payment_id       TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    processing_since INTEGER,
    CHECK ((status = 'paid') = (payment_id IS NOT NULL)),
    CHECK ((status = 'processing') = (processing_since IS NOT NULL))
) STRICT;

CREATE INDEX sessions_merchant_id ON sessions (merchant_id);

-- Idempotency-Key of POST /v1/sessions, kept 24 hours.
CREATE TABLE idempotency_keys (
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    key          TEXT    NOT NULL,
    request_hash BLOB    NOT NULL,
    session_id   TEXT    NOT NULL REFERENCES sessions (id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
) STRICT;

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE payments (
    id          TEXT    NOT NULL PRIMARY KEY,
    -- UNIQUE: a session is paid at most once.
    session_id  TEXT    NOT NULL UNIQUE REFERENCES sessions (id),
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    order_id    TEXT    NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    card_token  TEXT    NOT NULL,
    brand       TEXT    NOT NULL,
    last4       TEXT    NOT NULL CHECK (length(last4) <= 4),
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    cvc_check   TEXT    NOT NULL,  -- the outcome of the check (pass, fail, ...), never the code
    auth_code   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX payments_merchant_id ON payments (merchant_id);

-- Every card submission on a session, whatever its outcome.
CREATE TABLE attempts (
    session_id     TEXT    NOT NULL REFERENCES sessions (id),
    n              INTEGER NOT NULL CHECK (n >= 1),
    outcome        TEXT    NOT NULL,
    decline_reason TEXT    NOT NULL,
    cvc_check      TEXT    NOT NULL,  -- the outcome of the check, never the code
    card_token     TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    brand          TEXT    NOT NULL,
    last4          TEXT    NOT NULL CHECK (length(last4) <= 4),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (session_id, n)
) STRICT;

-- Data-encryption keys, only ever wrapped by the key-encryption key.
CREATE TABLE data_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    wrapped    BLOB    NOT NULL,
    kek_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE cards (
    token       TEXT    NOT NULL PRIMARY KEY,
    data_key_id TEXT    NOT NULL REFERENCES data_keys (id),
    ciphertext  BLOB    NOT NULL,  -- nonce || AES-256-GCM(number): the only form of the number at rest
    fingerprint TEXT    NOT NULL,
    brand       TEXT    NOT NULL,
    -- PCI DSS 3.4.1: at most the first 6 and last 4 digits in the clear.
    bin         TEXT    NOT NULL CHECK (length(bin) <= 6),
    last4       TEXT    NOT NULL CHECK (length(last4) <= 4),
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX cards_fingerprint ON cards (fingerprint);
CREATE INDEX cards_data_key_id ON cards (data_key_id);

-- The vault's own keys (fingerprint HMAC key, result-signing keys),
-- encrypted under a data key.
CREATE TABLE vault_secrets (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    data_key_id TEXT    NOT NULL REFERENCES data_keys (id),
    ciphertext  BLOB    NOT NULL,
    public_key  BLOB,  -- PKIX DER of a signing key; NULL otherwise
    created_at  INTEGER NOT NULL,
    active_from INTEGER,
    retired_at  INTEGER
) STRICT;

CREATE INDEX vault_secrets_kind_created_at ON vault_secrets (kind, created_at);
CREATE INDEX vault_secrets_data_key_id ON vault_secrets (data_key_id);

-- +goose Down
DROP TABLE vault_secrets;
DROP TABLE cards;
DROP TABLE data_keys;
DROP TABLE attempts;
DROP TABLE payments;
DROP TABLE idempotency_keys;
DROP TABLE sessions;
DROP TABLE merchant_origins;
DROP TABLE merchants;
