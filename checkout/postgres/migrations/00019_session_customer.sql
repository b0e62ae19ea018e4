-- Card on file (issue 12): a session may name one of the merchant's
-- customers and ask to save the card its shopper pays with: '' (no),
-- 'optional' (the page asks), 'required' (the page says it will).

-- +goose Up
ALTER TABLE sessions
    ADD COLUMN customer_id text COLLATE "C" REFERENCES customers (id),
    ADD COLUMN save_card text NOT NULL DEFAULT '' CHECK (save_card IN ('', 'optional', 'required'));

-- +goose Down
ALTER TABLE sessions DROP COLUMN save_card, DROP COLUMN customer_id;
