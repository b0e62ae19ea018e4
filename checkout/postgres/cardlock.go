package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.CardLocks = (*DB)(nil)

// LockCard locks a card until until, keeping a later lock, in one
// statement: concurrent locks from several instances agree.
func (db *DB) LockCard(ctx context.Context, fingerprint string, at, until time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO card_locks (fingerprint, locked_at, locked_until) VALUES ($1, $2, $3)
		ON CONFLICT (fingerprint) DO UPDATE SET
			locked_at = CASE WHEN card_locks.locked_until > excluded.locked_at THEN card_locks.locked_at ELSE excluded.locked_at END,
			locked_until = GREATEST(card_locks.locked_until, excluded.locked_until)`, fingerprint, at, until)
	if err != nil {
		return wrap("lock card", err)
	}
	return nil
}

// CardLock returns the card's lock row.
func (db *DB) CardLock(ctx context.Context, fingerprint string) (risk.CardLock, bool, error) {
	l := risk.CardLock{Fingerprint: fingerprint}
	var unlocked *time.Time
	err := db.pool.QueryRow(ctx, `SELECT locked_at, locked_until, unlocked_at FROM card_locks WHERE fingerprint = $1`,
		fingerprint).Scan(&l.LockedAt, &l.LockedUntil, &unlocked)
	if errors.Is(err, pgx.ErrNoRows) {
		return risk.CardLock{}, false, nil
	}
	if err != nil {
		return risk.CardLock{}, false, wrap("read card lock", err)
	}
	if unlocked != nil {
		l.UnlockedAt = *unlocked
	}
	l.LockedAt, l.LockedUntil, l.UnlockedAt = l.LockedAt.UTC(), l.LockedUntil.UTC(), l.UnlockedAt.UTC()
	return l, true, nil
}

// UnlockCard ends a current lock.
func (db *DB) UnlockCard(ctx context.Context, fingerprint string, at time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE card_locks SET locked_until = $2, unlocked_at = $2
		WHERE fingerprint = $1 AND locked_until > $2`, fingerprint, at)
	if err != nil {
		return false, wrap("unlock card", err)
	}
	return tag.RowsAffected() == 1, nil
}

// LockedCards lists the cards locked at at.
func (db *DB) LockedCards(ctx context.Context, at time.Time) ([]risk.CardLock, error) {
	rows, err := db.pool.Query(ctx, `SELECT fingerprint, locked_at, locked_until, unlocked_at FROM card_locks
		WHERE locked_until > $1 ORDER BY locked_until, fingerprint LIMIT 1000`, at)
	if err != nil {
		return nil, wrap("list card locks", err)
	}
	defer rows.Close()
	var out []risk.CardLock
	for rows.Next() {
		var l risk.CardLock
		var unlocked *time.Time
		if err := rows.Scan(&l.Fingerprint, &l.LockedAt, &l.LockedUntil, &unlocked); err != nil {
			return nil, wrap("list card locks", err)
		}
		if unlocked != nil {
			l.UnlockedAt = unlocked.UTC()
		}
		l.LockedAt, l.LockedUntil = l.LockedAt.UTC(), l.LockedUntil.UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list card locks", err)
	}
	return out, nil
}
