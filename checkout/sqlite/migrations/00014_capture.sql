-- Manual and partial capture (issue 11). A session says how its payment is
-- captured and how many days an uncaptured authorization lasts; a payment
-- keeps what the issuer has captured of it and until when its
-- authorization may still be captured (NULL once captured, or when it
-- never was one awaiting capture). Payments already taken in full keep
-- their whole amount as captured; held ones get the default seven days
-- from their creation.

-- +goose Up
ALTER TABLE sessions ADD COLUMN capture_method TEXT NOT NULL DEFAULT 'automatic'
    CHECK (capture_method IN ('automatic', 'manual'));
ALTER TABLE sessions ADD COLUMN authorization_days INTEGER NOT NULL DEFAULT 7
    CHECK (authorization_days BETWEEN 1 AND 60);
ALTER TABLE payments ADD COLUMN capture_method TEXT NOT NULL DEFAULT 'automatic'
    CHECK (capture_method IN ('automatic', 'manual'));
ALTER TABLE payments ADD COLUMN amount_captured INTEGER NOT NULL DEFAULT 0
    CHECK (amount_captured >= 0);
ALTER TABLE payments ADD COLUMN authorized_until INTEGER;
UPDATE payments SET amount_captured = amount WHERE status IN ('succeeded', 'captured');
UPDATE payments SET authorized_until = created_at + 7 * 86400 * 1000000000 WHERE status = 'held';

-- +goose Down
ALTER TABLE payments DROP COLUMN authorized_until;
ALTER TABLE payments DROP COLUMN amount_captured;
ALTER TABLE payments DROP COLUMN capture_method;
ALTER TABLE sessions DROP COLUMN authorization_days;
ALTER TABLE sessions DROP COLUMN capture_method;
