-- A key keeps its risk.KeepPerKey (101) latest occurrences and most recently
-- seen members (migration 00011). Each record trimmed the keys it touched in
-- two statements of its own (a JSON array of keys, their cuts materialized,
-- a delete below each); now a trigger trims each key as a row is inserted,
-- inside the insert's own statement: the same rows kept, two statements a
-- checkout fewer. An upsert that only refreshes a member adds no row and
-- fires nothing. The offset is KeepPerKey - 1; storetest.CounterRowsStayBounded
-- fails should the two part.

-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER risk_occurrences_keep AFTER INSERT ON risk_occurrences BEGIN
    DELETE FROM risk_occurrences WHERE key = NEW.key AND at < (
        SELECT at FROM risk_occurrences WHERE key = NEW.key ORDER BY at DESC LIMIT 1 OFFSET 100);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER risk_members_keep AFTER INSERT ON risk_members BEGIN
    DELETE FROM risk_members WHERE key = NEW.key AND at < (
        SELECT at FROM risk_members WHERE key = NEW.key ORDER BY at DESC LIMIT 1 OFFSET 100);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER risk_members_keep;
DROP TRIGGER risk_occurrences_keep;
