package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var _ risk.CardLocks = (*DB)(nil)

// LockCard locks a card until until, keeping a later lock.
func (db *DB) LockCard(ctx context.Context, fingerprint string, at, until time.Time) error {
	return db.write(ctx, func(tx *writeTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO card_locks (fingerprint, locked_at, locked_until) VALUES (?, ?, ?)
			ON CONFLICT (fingerprint) DO UPDATE SET
				locked_at = CASE WHEN card_locks.locked_until > excluded.locked_at THEN card_locks.locked_at ELSE excluded.locked_at END,
				locked_until = max(card_locks.locked_until, excluded.locked_until)`,
			fingerprint, unixNanos(at), unixNanos(until))
		if err != nil {
			return fmt.Errorf("sqlite: lock card: %w", err)
		}
		return nil
	})
}

// CardLock returns the card's lock row.
func (db *DB) CardLock(ctx context.Context, fingerprint string) (risk.CardLock, bool, error) {
	l := risk.CardLock{Fingerprint: fingerprint}
	err := db.r.QueryRowContext(ctx, `SELECT locked_at, locked_until, unlocked_at FROM card_locks WHERE fingerprint = ?`,
		fingerprint).Scan(sqlstore.TimeDest(&l.LockedAt), sqlstore.TimeDest(&l.LockedUntil), sqlstore.TimeDest(&l.UnlockedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return risk.CardLock{}, false, nil
	}
	if err != nil {
		return risk.CardLock{}, false, fmt.Errorf("sqlite: read card lock: %w", err)
	}
	return l, true, nil
}

// UnlockCard ends a current lock.
func (db *DB) UnlockCard(ctx context.Context, fingerprint string, at time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE card_locks SET locked_until = ?, unlocked_at = ?
			WHERE fingerprint = ? AND locked_until > ?`, unixNanos(at), unixNanos(at), fingerprint, unixNanos(at))
		if err != nil {
			return fmt.Errorf("sqlite: unlock card: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// LockedCards lists the cards locked at at.
func (db *DB) LockedCards(ctx context.Context, at time.Time) ([]risk.CardLock, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT fingerprint, locked_at, locked_until, unlocked_at FROM card_locks
		WHERE locked_until > ? ORDER BY locked_until, fingerprint LIMIT 1000`, unixNanos(at))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list card locks: %w", err)
	}
	defer rows.Close()
	var out []risk.CardLock
	for rows.Next() {
		var l risk.CardLock
		if err := rows.Scan(&l.Fingerprint, sqlstore.TimeDest(&l.LockedAt), sqlstore.TimeDest(&l.LockedUntil), sqlstore.TimeDest(&l.UnlockedAt)); err != nil {
			return nil, fmt.Errorf("sqlite: list card locks: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
