-- Card-data retention (issue 12, PCI DSS 3.2.1): the sweep erases the
-- numbers nobody needs any more in bounded batches, oldest first. cards.saved
-- marks the cards a customer saved (set with the saved card, in its
-- transaction), so that the sweep's index leaves them out: however many
-- cards are saved, a batch reads only candidates. The other indexes serve
-- the two reasons to keep one (a saved card, a payment still awaiting
-- capture).

-- +goose Up
ALTER TABLE cards ADD COLUMN saved INTEGER NOT NULL DEFAULT 0 CHECK (saved IN (0, 1));
CREATE INDEX cards_retained ON cards (created_at) WHERE erased_at IS NULL AND saved = FALSE;
CREATE INDEX saved_cards_card_token ON saved_cards (card_token);
CREATE INDEX payments_awaiting_card ON payments (card_token) WHERE status IN ('authorized', 'held');

-- +goose Down
DROP INDEX payments_awaiting_card;
DROP INDEX saved_cards_card_token;
DROP INDEX cards_retained;
ALTER TABLE cards DROP COLUMN saved;
