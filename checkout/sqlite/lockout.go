package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.LockoutBudget = (*DB)(nil)

// slotsSince is the start of the window a card's failures count from: the
// later of since and the end of the card's last lock, if it has ended (an
// unlock ends it too). Its arguments are the fingerprint, since and at.
const slotsSince = `max(?2, coalesce((SELECT locked_until FROM card_locks WHERE fingerprint = ?1 AND locked_until <= ?3), ?2))`

// ReserveSlot takes a slot of the card's wrong-code budget. SQLite's one
// writer (BEGIN IMMEDIATE) serializes it with every other reservation and
// failure, of any card, on any connection or process.
func (db *DB) ReserveSlot(ctx context.Context, s risk.LockoutSlot) (string, error) {
	prune := db.reserved.Add(1)%risk.PruneEvery == 0
	answer := ""
	err := db.write(ctx, func(tx *writeTx) error {
		var locked int
		var taken int
		err := tx.QueryRowContext(ctx, `SELECT
				EXISTS (SELECT 1 FROM card_locks WHERE fingerprint = ?1 AND locked_until > ?3),
				(SELECT count(*) FROM lockout_slots WHERE fingerprint = ?1
					AND ((failed = 1 AND at >= `+slotsSince+`) OR (failed = 0 AND until > ?3)))`,
			s.Fingerprint, unixNanos(s.Since), unixNanos(s.At)).Scan(&locked, &taken)
		if err != nil {
			return fmt.Errorf("sqlite: count lockout slots: %w", err)
		}
		switch {
		case locked == 1:
			answer = risk.SlotLocked
			return nil
		case taken >= s.Max:
			answer = risk.SlotFull
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO lockout_slots (id, fingerprint, at, until) VALUES (?, ?, ?, ?)`,
			s.ID, s.Fingerprint, unixNanos(s.At), unixNanos(s.Until)); err != nil {
			return fmt.Errorf("sqlite: reserve lockout slot: %w", err)
		}
		answer = risk.SlotGranted
		if prune {
			// Slots past their end (reservations whose request died,
			// failures older than any window), a batch at a time.
			if _, err := tx.ExecContext(ctx, `DELETE FROM lockout_slots WHERE rowid IN (
				SELECT rowid FROM lockout_slots WHERE until < ? LIMIT ?)`, unixNanos(s.At), risk.PruneBatch); err != nil {
				return fmt.Errorf("sqlite: prune lockout slots: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return answer, nil
}

// FailSlot records a wrong security code and locks the card at the
// threshold, in one write transaction.
func (db *DB) FailSlot(ctx context.Context, s risk.LockoutSlot, lockUntil time.Time) (bool, error) {
	locked := false
	err := db.write(ctx, func(tx *writeTx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lockout_slots (id, fingerprint, at, until, failed) VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (id) DO UPDATE SET failed = 1, at = excluded.at, until = excluded.until`,
			s.ID, s.Fingerprint, unixNanos(s.At), unixNanos(s.Until)); err != nil {
			return fmt.Errorf("sqlite: record security code failure: %w", err)
		}
		var failures int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM lockout_slots WHERE fingerprint = ?1 AND failed = 1 AND at >= `+slotsSince,
			s.Fingerprint, unixNanos(s.Since), unixNanos(s.At)).Scan(&failures); err != nil {
			return fmt.Errorf("sqlite: count security code failures: %w", err)
		}
		if failures < s.Max {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO card_locks (fingerprint, locked_at, locked_until) VALUES (?, ?, ?)
			ON CONFLICT (fingerprint) DO UPDATE SET
				locked_at = CASE WHEN card_locks.locked_until > excluded.locked_at THEN card_locks.locked_at ELSE excluded.locked_at END,
				locked_until = max(card_locks.locked_until, excluded.locked_until)`,
			s.Fingerprint, unixNanos(s.At), unixNanos(lockUntil)); err != nil {
			return fmt.Errorf("sqlite: lock card: %w", err)
		}
		locked = true
		return nil
	})
	return locked, err
}

// ReleaseSlot deletes a reservation.
func (db *DB) ReleaseSlot(ctx context.Context, id string) error {
	return db.write(ctx, func(tx *writeTx) error { return releaseSlot(ctx, tx, id) })
}

// releaseSlot deletes reservation id inside the caller's write (never a
// failure); FinishAttempt ends its attempt's this way.
func releaseSlot(ctx context.Context, tx *writeTx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM lockout_slots WHERE id = ? AND failed = 0`, id); err != nil {
		return fmt.Errorf("sqlite: release lockout slot: %w", err)
	}
	return nil
}
