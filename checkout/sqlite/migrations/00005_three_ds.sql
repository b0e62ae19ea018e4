-- 3-D Secure (checkout/threeds.go): the authentications that needed a
-- challenge, so that any instance can show the challenge, take the
-- shopper's answer and let the next submission use it; and the
-- authentication's view on each attempt and payment. The same tables as
-- checkout/postgres's 00005, times in Unix nanoseconds.
--
-- Keyed by the card's keyed fingerprint: no part of the number is stored
-- here, and, like every table, no column for a security code (PCI DSS
-- 3.3.1.2).

-- +goose Up
CREATE TABLE authentications (
    id                  TEXT    NOT NULL PRIMARY KEY,  -- 3ds_...: our threeDSServerTransID
    session_id          TEXT    NOT NULL REFERENCES sessions (id),
    merchant_id         TEXT    NOT NULL,
    fingerprint         TEXT    NOT NULL,
    brand               TEXT    NOT NULL,
    acs_trans_id        TEXT    NOT NULL,  -- the issuer's own id of the transaction
    challenge_requested INTEGER NOT NULL CHECK (challenge_requested IN (0, 1)),
    status              TEXT    NOT NULL CHECK (status IN ('Y', 'A', 'C', 'N', 'U', 'R')),
    eci                 TEXT    NOT NULL,
    -- The authentication value (CAVV/AAV), good for one authorization:
    -- cleared ('') when used.
    value               TEXT    NOT NULL,
    failures            INTEGER NOT NULL CHECK (failures >= 0),
    used_by             INTEGER NOT NULL CHECK (used_by >= 0),  -- the attempt that used it; 0 while unused
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX authentications_session_id ON authentications (session_id);

-- JSON of checkout.ThreeDS (no authentication value); NULL when the attempt
-- or payment was not authenticated.
ALTER TABLE attempts ADD COLUMN three_ds TEXT;
ALTER TABLE payments ADD COLUMN three_ds TEXT;

-- +goose Down
ALTER TABLE payments DROP COLUMN three_ds;
ALTER TABLE attempts DROP COLUMN three_ds;
DROP TABLE authentications;
