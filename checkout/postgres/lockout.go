package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.LockoutBudget = (*DB)(nil)

// lockCardSlots serializes one card's reservations and failures across
// every instance: an advisory lock on the fingerprint's 64-bit hash, held
// to the end of the transaction. A lock rather than a row: a card has no
// row before its first reservation. It must be a statement of its own:
// under READ COMMITTED each later statement of the transaction takes its
// snapshot after the lock is granted, and so sees the previous holder's
// commit. Two cards sharing a hash only wait for each other.
const lockCardSlots = `SELECT pg_advisory_xact_lock(hashtextextended('lockout_slots:' || $1, 0))`

// slotsSince is the start of the window a card's failures count from: the
// later of since ($2) and the end of the card's last lock ($1), if it has
// ended at $3 (an unlock ends it too).
const slotsSince = `GREATEST($2::timestamptz, (SELECT locked_until FROM card_locks WHERE fingerprint = $1 AND locked_until <= $3))`

// ReserveSlot takes a slot of the card's wrong-code budget in one round
// trip: the lock, then the check and insert, in one implicit transaction.
func (db *DB) ReserveSlot(ctx context.Context, s risk.LockoutSlot) (string, error) {
	batch := &pgx.Batch{}
	batch.Queue(lockCardSlots, s.Fingerprint)
	batch.Queue(`WITH state AS (
			SELECT EXISTS (SELECT 1 FROM card_locks WHERE fingerprint = $1 AND locked_until > $3) AS locked,
				(SELECT count(*) FROM lockout_slots WHERE fingerprint = $1
					AND ((failed AND at >= `+slotsSince+`) OR (NOT failed AND until > $3))) AS taken),
		granted AS (
			INSERT INTO lockout_slots (id, fingerprint, at, until)
			SELECT $4, $1, $3, $5 FROM state WHERE NOT state.locked AND state.taken < $6
			RETURNING 1)
		SELECT state.locked, EXISTS (SELECT 1 FROM granted) FROM state`,
		s.Fingerprint, s.Since, s.At, s.ID, s.Until, s.Max)
	br := db.pool.SendBatch(ctx, batch)
	var locked, granted bool
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&locked, &granted)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", wrap("reserve lockout slot", err)
	}
	if db.reserved.Add(1)%risk.PruneEvery == 0 {
		// Slots past their end (reservations whose request died, failures
		// older than any window), a batch at a time.
		if _, err := db.pool.Exec(ctx, `DELETE FROM lockout_slots WHERE id = ANY (ARRAY(
			SELECT id FROM lockout_slots WHERE until < $1 LIMIT $2))`, s.At, risk.PruneBatch); err != nil {
			return "", wrap("prune lockout slots", err)
		}
	}
	switch {
	case locked:
		return risk.SlotLocked, nil
	case granted:
		return risk.SlotGranted, nil
	}
	return risk.SlotFull, nil
}

// FailSlot records a wrong security code and locks the card at the
// threshold, in one round trip and one implicit transaction under the
// card's lock.
func (db *DB) FailSlot(ctx context.Context, s risk.LockoutSlot, lockUntil time.Time) (bool, error) {
	batch := &pgx.Batch{}
	batch.Queue(lockCardSlots, s.Fingerprint)
	batch.Queue(`INSERT INTO lockout_slots (id, fingerprint, at, until, failed) VALUES ($1, $2, $3, $4, true)
		ON CONFLICT (id) DO UPDATE SET failed = true, at = excluded.at, until = excluded.until`,
		s.ID, s.Fingerprint, s.At, s.Until)
	// A statement of its own, to see the failure just recorded.
	batch.Queue(`WITH failures AS (
			SELECT count(*) AS n FROM lockout_slots WHERE fingerprint = $1 AND failed AND at >= `+slotsSince+`)
		INSERT INTO card_locks (fingerprint, locked_at, locked_until)
		SELECT $1, $3, $4 FROM failures WHERE failures.n >= $5
		ON CONFLICT (fingerprint) DO UPDATE SET
			locked_at = CASE WHEN card_locks.locked_until > excluded.locked_at THEN card_locks.locked_at ELSE excluded.locked_at END,
			locked_until = GREATEST(card_locks.locked_until, excluded.locked_until)`,
		s.Fingerprint, s.Since, s.At, lockUntil, s.Max)
	br := db.pool.SendBatch(ctx, batch)
	var tag pgconn.CommandTag
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, wrap("record security code failure", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseSlot deletes a reservation.
func (db *DB) ReleaseSlot(ctx context.Context, id string) error {
	b := &pgx.Batch{}
	queueReleaseSlot(b, id)
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrap("release lockout slot", err)
	}
	return nil
}

// queueReleaseSlot queues the deletion of reservation id (never a
// failure): ReleaseSlot's, or FinishAttempt's ending its attempt's.
func queueReleaseSlot(b *pgx.Batch, id string) {
	b.Queue(`DELETE FROM lockout_slots WHERE id = $1 AND NOT failed`, id)
}
