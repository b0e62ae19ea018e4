-- The security-code lockout's budget: the same table as checkout/postgres's
-- 00008, times in Unix nanoseconds; a card's reservations are serialized by
-- SQLite's single writer (every write transaction begins IMMEDIATE). Keyed
-- by the attempt and the card's keyed fingerprint: no part of the number is
-- stored here. Earlier wrong codes (risk_events cvcfail:, keyed by a hash)
-- are not carried over; existing locks stand.

-- +goose Up
CREATE TABLE lockout_slots (
    id          TEXT    NOT NULL PRIMARY KEY,  -- the attempt's key (session id:attempt)
    fingerprint TEXT    NOT NULL,
    at          INTEGER NOT NULL,              -- reserved at; for a failure, the issuer's answer
    until       INTEGER NOT NULL,              -- a reservation counts until then; any slot may be pruned after
    failed      INTEGER NOT NULL DEFAULT 0 CHECK (failed IN (0, 1))
) STRICT;

CREATE INDEX lockout_slots_card ON lockout_slots (fingerprint, at);
CREATE INDEX lockout_slots_until ON lockout_slots (until);

-- +goose Down
DROP TABLE lockout_slots;
