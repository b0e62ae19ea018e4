package sqlstore

import "strconv"

// cardNeeded holds for a card (alias c) whose number is still needed: a
// customer saved it, or a payment made with it still awaits capture.
const cardNeeded = `(EXISTS (SELECT 1 FROM saved_cards s WHERE s.card_token = c.token)
	OR EXISTS (SELECT 1 FROM payments p WHERE p.card_token = c.token AND p.status IN ('authorized', 'held')))`

// EraseUnneededCards erases (empties the ciphertext of, and sets erased_at
// to $1 on) up to limit cards not needed any more and stored before $2,
// oldest first. lock is what the dialect adds to the selection so that
// instances sweeping at once take different cards (PostgreSQL's "FOR
// UPDATE SKIP LOCKED"; SQLite's one writer needs none). The limit is
// written into the text: SQLite plans a LIMIT by its bound value.
func EraseUnneededCards(limit int, lock string) string {
	// The selection is a CTE, evaluated once: PostgreSQL may run a
	// subquery under IN more than once, each time locking (and
	// erasing) another batch.
	return `WITH picked AS (SELECT c.token FROM cards c
			WHERE c.erased_at IS NULL AND c.saved = FALSE AND c.created_at < $2 AND NOT ` + cardNeeded + `
			ORDER BY c.created_at LIMIT ` + strconv.Itoa(limit) + ` ` + lock + `)
		UPDATE cards SET ciphertext = substr(cards.ciphertext, 1, 0), erased_at = $1
		FROM picked WHERE cards.token = picked.token AND cards.erased_at IS NULL`
}

// CardRetentionReport counts the vault's cards by state for a retention
// period that began at $1: erased, saved, awaiting capture, kept within the
// period, and due (the sweep's next runs erase them).
const CardRetentionReport = `SELECT
	COALESCE(SUM(CASE WHEN c.erased_at IS NOT NULL THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN c.erased_at IS NULL AND EXISTS (SELECT 1 FROM saved_cards s WHERE s.card_token = c.token) THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN c.erased_at IS NULL AND NOT EXISTS (SELECT 1 FROM saved_cards s WHERE s.card_token = c.token)
		AND EXISTS (SELECT 1 FROM payments p WHERE p.card_token = c.token AND p.status IN ('authorized', 'held')) THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN c.erased_at IS NULL AND NOT ` + cardNeeded + ` AND c.created_at >= $1 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN c.erased_at IS NULL AND NOT ` + cardNeeded + ` AND c.created_at < $1 THEN 1 ELSE 0 END), 0)
	FROM cards c`
