-- Manual and partial capture (issue 11). A session says how its payment is
-- captured and how many days an uncaptured authorization lasts; a payment
-- keeps what the issuer has captured of it and until when its
-- authorization may still be captured (NULL once captured, or when it
-- never was one awaiting capture). Payments already taken in full keep
-- their whole amount as captured; held ones get the default seven days
-- from their creation.

-- +goose Up
ALTER TABLE sessions
    ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
    ADD COLUMN authorization_days integer NOT NULL DEFAULT 7 CHECK (authorization_days BETWEEN 1 AND 60);
ALTER TABLE payments
    ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
    ADD COLUMN amount_captured bigint NOT NULL DEFAULT 0 CHECK (amount_captured >= 0),
    ADD COLUMN authorized_until timestamptz;
UPDATE payments SET amount_captured = amount WHERE status IN ('succeeded', 'captured');
UPDATE payments SET authorized_until = created_at + interval '7 days' WHERE status = 'held';

-- +goose Down
ALTER TABLE payments DROP COLUMN authorized_until, DROP COLUMN amount_captured, DROP COLUMN capture_method;
ALTER TABLE sessions DROP COLUMN authorization_days, DROP COLUMN capture_method;
