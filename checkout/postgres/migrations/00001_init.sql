-- The first schema of the PostgreSQL store: the same tables, columns and
-- checks as checkout/sqlite's, in PostgreSQL's types.
--
-- Times are timestamptz (microseconds, an absolute instant); NULL means "not
-- set" (the zero time.Time). Identifiers and keys are text COLLATE "C", so
-- that they sort by byte, as Go compares strings, whatever the database's
-- locale: DataKeys pages by id > cursor.
--
-- No table has, or may ever get, a column for a card security code (PCI DSS
-- 3.3.1.2); card numbers exist only as ciphertext in cards (PCI DSS 3.5.1).

-- +goose Up
CREATE TABLE merchants (
    id           text COLLATE "C" NOT NULL,
    name         text             NOT NULL,
    -- SHA-256 of the secret key. The length check refuses a raw key passed
    -- by mistake: the key itself is shown once and never stored.
    api_key_hash bytea            NOT NULL CHECK (octet_length(api_key_hash) = 32),
    created_at   timestamptz      NOT NULL,
    CONSTRAINT merchants_pkey PRIMARY KEY (id),
    CONSTRAINT merchants_api_key_hash_key UNIQUE (api_key_hash)
);

-- One row per registered origin; position keeps the merchant's order.
CREATE TABLE merchant_origins (
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    position    integer          NOT NULL,
    scheme      text             NOT NULL CHECK (scheme IN ('https', 'http')),
    host        text             NOT NULL,
    port        integer          NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (merchant_id, position)
);

CREATE TABLE sessions (
    id               text COLLATE "C" NOT NULL,
    merchant_id      text COLLATE "C" NOT NULL REFERENCES merchants (id),
    amount           bigint           NOT NULL CHECK (amount > 0),
    currency         text             NOT NULL,
    order_id         text             NOT NULL,
    success_url      text             NOT NULL,
    cancel_url       text             NOT NULL,
    locale           text             NOT NULL,
    result_delivery  text             NOT NULL,
    customer_email   text             NOT NULL,
    shipping         jsonb,  -- checkout.Address; NULL when there is none
    status           text             NOT NULL CHECK (status IN ('open', 'processing', 'paid', 'expired')),
    attempts         integer          NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- No foreign key: payments already points here, and a cycle would make
    -- every write order-sensitive. payments.session_id is the real link.
    payment_id       text COLLATE "C",
    created_at       timestamptz      NOT NULL,
    expires_at       timestamptz      NOT NULL,
    processing_since timestamptz,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CHECK ((status = 'paid') = (payment_id IS NOT NULL)),
    CHECK ((status = 'processing') = (processing_since IS NOT NULL))
);

CREATE INDEX sessions_merchant_id ON sessions (merchant_id);

-- Idempotency-Key of POST /v1/sessions, kept 24 hours. The key row is
-- inserted before its session (INSERT ... ON CONFLICT decides the race), so
-- the reference to the session is checked at commit.
CREATE TABLE idempotency_keys (
    merchant_id  text COLLATE "C" NOT NULL REFERENCES merchants (id),
    key          text COLLATE "C" NOT NULL,
    request_hash bytea            NOT NULL,
    session_id   text COLLATE "C" NOT NULL REFERENCES sessions (id) DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz      NOT NULL,
    PRIMARY KEY (merchant_id, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_session_id ON idempotency_keys (session_id);

CREATE TABLE payments (
    id          text COLLATE "C" NOT NULL,
    -- UNIQUE: a session is paid at most once.
    session_id  text COLLATE "C" NOT NULL REFERENCES sessions (id),
    merchant_id text COLLATE "C" NOT NULL REFERENCES merchants (id),
    order_id    text             NOT NULL,
    amount      bigint           NOT NULL CHECK (amount > 0),
    currency    text             NOT NULL,
    status      text             NOT NULL,
    card_token  text COLLATE "C" NOT NULL,
    brand       text             NOT NULL,
    last4       text             NOT NULL CHECK (char_length(last4) <= 4),
    exp_month   integer          NOT NULL,
    exp_year    integer          NOT NULL,
    fingerprint text COLLATE "C" NOT NULL,
    cvc_check   text             NOT NULL,  -- the outcome of the check (pass, fail, ...), never the code
    auth_code   text             NOT NULL,
    created_at  timestamptz      NOT NULL,
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    CONSTRAINT payments_session_id_key UNIQUE (session_id)
);

CREATE INDEX payments_merchant_id ON payments (merchant_id);

-- Every card submission on a session, whatever its outcome.
CREATE TABLE attempts (
    session_id     text COLLATE "C" NOT NULL REFERENCES sessions (id),
    n              integer          NOT NULL CHECK (n >= 1),
    outcome        text             NOT NULL,
    decline_reason text             NOT NULL,
    cvc_check      text             NOT NULL,  -- the outcome of the check, never the code
    card_token     text COLLATE "C" NOT NULL,
    fingerprint    text COLLATE "C" NOT NULL,
    brand          text             NOT NULL,
    last4          text             NOT NULL CHECK (char_length(last4) <= 4),
    created_at     timestamptz      NOT NULL,
    PRIMARY KEY (session_id, n)
);

-- Data-encryption keys, only ever wrapped by the key-encryption key.
CREATE TABLE data_keys (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    wrapped    bytea            NOT NULL,
    kek_id     text             NOT NULL,
    created_at timestamptz      NOT NULL
);

CREATE TABLE cards (
    token       text COLLATE "C" NOT NULL PRIMARY KEY,
    data_key_id text COLLATE "C" NOT NULL REFERENCES data_keys (id),
    ciphertext  bytea            NOT NULL,  -- nonce || AES-256-GCM(number): the only form of the number at rest
    fingerprint text COLLATE "C" NOT NULL,
    brand       text             NOT NULL,
    -- PCI DSS 3.4.1: at most the first 6 and last 4 digits in the clear.
    bin         text             NOT NULL CHECK (char_length(bin) <= 6),
    last4       text             NOT NULL CHECK (char_length(last4) <= 4),
    exp_month   integer          NOT NULL,
    exp_year    integer          NOT NULL,
    created_at  timestamptz      NOT NULL
);

CREATE INDEX cards_fingerprint ON cards (fingerprint);
CREATE INDEX cards_data_key_id ON cards (data_key_id);

-- The vault's own keys (fingerprint HMAC key, result-signing keys),
-- encrypted under a data key.
CREATE TABLE vault_secrets (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    kind        text COLLATE "C" NOT NULL,
    data_key_id text COLLATE "C" NOT NULL REFERENCES data_keys (id),
    ciphertext  bytea            NOT NULL,
    public_key  bytea,  -- PKIX DER of a signing key; NULL otherwise
    created_at  timestamptz      NOT NULL,
    active_from timestamptz,
    retired_at  timestamptz
);

CREATE INDEX vault_secrets_kind_created_at ON vault_secrets (kind, created_at, id);
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
