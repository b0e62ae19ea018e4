-- 3-D Secure (checkout/threeds.go): the authentications that needed a
-- challenge, so that any instance can show the challenge, take the
-- shopper's answer and let the next submission use it; and the
-- authentication's view on each attempt and payment. The same tables as
-- checkout/sqlite's 00005, in PostgreSQL's types.
--
-- Keyed by the card's keyed fingerprint: no part of the number is stored
-- here, and, like every table, no column for a security code (PCI DSS
-- 3.3.1.2).

-- +goose Up
CREATE TABLE authentications (
    id                  text COLLATE "C" NOT NULL PRIMARY KEY,  -- 3ds_...: our threeDSServerTransID
    session_id          text COLLATE "C" NOT NULL REFERENCES sessions (id),
    merchant_id         text COLLATE "C" NOT NULL,
    fingerprint         text COLLATE "C" NOT NULL,
    brand               text             NOT NULL,
    acs_trans_id        text             NOT NULL,  -- the issuer's own id of the transaction
    challenge_requested boolean          NOT NULL,
    status              text             NOT NULL CHECK (status IN ('Y', 'A', 'C', 'N', 'U', 'R')),
    eci                 text             NOT NULL,
    -- The authentication value (CAVV/AAV), good for one authorization:
    -- cleared ('') when used.
    value               text             NOT NULL,
    failures            integer          NOT NULL CHECK (failures >= 0),
    used_by             integer          NOT NULL CHECK (used_by >= 0),  -- the attempt that used it; 0 while unused
    created_at          timestamptz      NOT NULL,
    expires_at          timestamptz      NOT NULL
);

CREATE INDEX authentications_session_id ON authentications (session_id);

-- checkout.ThreeDS (no authentication value); NULL when the attempt or
-- payment was not authenticated.
ALTER TABLE attempts ADD COLUMN three_ds jsonb;
ALTER TABLE payments ADD COLUMN three_ds jsonb;

-- +goose Down
ALTER TABLE payments DROP COLUMN three_ds;
ALTER TABLE attempts DROP COLUMN three_ds;
DROP TABLE authentications;
