-- The security-code lockout's budget (checkout/risk.Guard.Reserve): before
-- a card is sent to the issuer it takes one slot here, in a transaction
-- serialized per card (an advisory transaction lock on its fingerprint), so
-- that however many submissions arrive at once on however many instances,
-- at most the threshold's number of wrong codes reach the issuer within the
-- window. A slot is a reservation while the issuer has not answered (it
-- counts until `until`, a few authorization deadlines, should its request
-- die), a failure once the issuer said "wrong security code" (it then
-- counts within the lockout window, and `until` is when it can be pruned);
-- any other answer deletes it. Keyed by the attempt (session:n) and the
-- card's keyed fingerprint: no part of the number is stored here.
--
-- Wrong codes were counted as risk_events (cvcfail:) before: keyed by a
-- hash of the fingerprint, they cannot be moved here, so after this
-- migration a card's count starts afresh (at most one lockout window of
-- failures forgotten); existing locks in card_locks stand.

-- +goose Up
CREATE TABLE lockout_slots (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,  -- the attempt's key (session id:attempt)
    fingerprint text COLLATE "C" NOT NULL,
    at          timestamptz      NOT NULL,              -- reserved at; for a failure, the issuer's answer
    until       timestamptz      NOT NULL,              -- a reservation counts until then; any slot may be pruned after
    failed      boolean          NOT NULL DEFAULT false -- the issuer said the code was wrong
);

CREATE INDEX lockout_slots_card ON lockout_slots (fingerprint, at);
CREATE INDEX lockout_slots_until ON lockout_slots (until);

-- +goose Down
DROP TABLE lockout_slots;
