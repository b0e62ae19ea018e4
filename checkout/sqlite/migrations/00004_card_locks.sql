-- The security-code lockout (checkout/risk.Guard): the same table as
-- checkout/postgres's 00004, times in Unix nanoseconds. Keyed by the card's
-- keyed fingerprint: no part of the number is stored here.

-- +goose Up
CREATE TABLE card_locks (
    fingerprint  TEXT    NOT NULL PRIMARY KEY,
    locked_at    INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    unlocked_at  INTEGER  -- the operator's last unlock; failures before it no longer count
) STRICT;

CREATE INDEX card_locks_locked_until ON card_locks (locked_until);

-- +goose Down
DROP TABLE card_locks;
