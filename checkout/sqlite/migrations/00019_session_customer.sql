-- Card on file (issue 12): a session may name one of the merchant's
-- customers and ask to save the card its shopper pays with: '' (no),
-- 'optional' (the page asks), 'required' (the page says it will).

-- +goose Up
ALTER TABLE sessions ADD COLUMN customer_id TEXT REFERENCES customers (id);
ALTER TABLE sessions ADD COLUMN save_card TEXT NOT NULL DEFAULT ''
    CHECK (save_card IN ('', 'optional', 'required'));

-- +goose Down
ALTER TABLE sessions DROP COLUMN save_card;
ALTER TABLE sessions DROP COLUMN customer_id;
