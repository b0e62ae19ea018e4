-- Card-data retention (issue 12, PCI DSS 3.2.1): the sweep erases the
-- numbers nobody needs any more in bounded batches, oldest first; these
-- indexes keep each batch from reading the whole vault: the cards not yet
-- erased by age, and the two reasons to keep one (a saved card, a payment
-- still awaiting capture).

-- +goose Up
CREATE INDEX cards_retained ON cards (created_at) WHERE erased_at IS NULL;
CREATE INDEX saved_cards_card_token ON saved_cards (card_token);
CREATE INDEX payments_awaiting_card ON payments (card_token) WHERE status IN ('authorized', 'held');

-- +goose Down
DROP INDEX payments_awaiting_card;
DROP INDEX saved_cards_card_token;
DROP INDEX cards_retained;
