package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// CreateSession stores a new session; ECONFLICT when the id is taken,
// ENOTFOUND when the merchant does not exist.
func (db *DB) CreateSession(ctx context.Context, s checkout.Session) error {
	return db.write(ctx, func(tx *writeTx) error { return insertSession(ctx, tx, s) })
}

func insertSession(ctx context.Context, q querier, s checkout.Session) error {
	values, err := sqlstore.SessionValues(s, unixNanos(s.CreatedAt), unixNanos(s.ExpiresAt), unixNanos(s.ProcessingSince))
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, sqlstore.InsertSession, values...)
	switch {
	case isPrimaryKey(err):
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "a session with this id already exists"}
	case isForeignKey(err):
		return notFound("merchant")
	case err != nil:
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	return nil
}

// CreateSessionIdempotent stores s under the merchant's idempotency key
// unless a live key holds another session, in one transaction. The same key
// with another requestHash is EIDEMPOTENCY. The clock is s.CreatedAt: keys
// created 24 hours or more before it are deleted, so they answer no more.
func (db *DB) CreateSessionIdempotent(ctx context.Context, s checkout.Session, key string, requestHash []byte) (stored checkout.Session, created bool, err error) {
	err = db.write(ctx, func(tx *writeTx) error {
		// Expired keys go first, so that every row the lookup finds is live
		// and the table does not grow without bound.
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at <= ?`,
			unixNanos(s.CreatedAt.Add(-checkout.IdempotencyKeyTTL))); err != nil {
			return fmt.Errorf("sqlite: expire idempotency keys: %w", err)
		}
		var hash []byte
		var sessionID string
		err := tx.QueryRowContext(ctx,
			`SELECT request_hash, session_id FROM idempotency_keys WHERE merchant_id = ? AND key = ?`,
			s.MerchantID, key).Scan(&hash, &sessionID)
		switch {
		case err == nil:
			// The hash is of the merchant's own request body: nothing
			// secret, so a plain comparison is fine.
			if !bytes.Equal(hash, requestHash) {
				return &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with a different request body"}
			}
			stored, err = session(ctx, tx, sessionID)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: idempotency key: %w", err)
		}
		if err := insertSession(ctx, tx, s); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO idempotency_keys (merchant_id, key, request_hash, session_id, created_at) VALUES (?, ?, ?, ?, ?)`,
			s.MerchantID, key, requestHash, s.ID, unixNanos(s.CreatedAt)); err != nil {
			return fmt.Errorf("sqlite: store idempotency key: %w", err)
		}
		// Answer what a later read will: times in UTC, as stored.
		stored, err = session(ctx, tx, s.ID)
		created = err == nil
		return err
	})
	if err != nil {
		return checkout.Session{}, false, err
	}
	return stored, created, nil
}

// Session returns a session; ENOTFOUND when missing.
func (db *DB) Session(ctx context.Context, id string) (checkout.Session, error) {
	return session(ctx, db.r, id)
}

func session(ctx context.Context, q querier, id string) (checkout.Session, error) {
	s, err := sqlstore.ScanSession(q.QueryRowContext(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Session{}, notFound("session")
	}
	if err != nil {
		return checkout.Session{}, fmt.Errorf("sqlite: session: %w", err)
	}
	return s, nil
}

// Checkout reads a session, its merchant and the merchant's origins in one
// query (sqlstore.CheckoutQuery).
func (db *DB) Checkout(ctx context.Context, sessionID string) (checkout.Checkout, error) {
	rows, err := db.r.QueryContext(ctx, sqlstore.CheckoutQuery, sessionID)
	if err != nil {
		return checkout.Checkout{}, fmt.Errorf("sqlite: checkout: %w", err)
	}
	defer rows.Close()
	co, found, err := sqlstore.ScanCheckout(rows)
	if err != nil {
		return checkout.Checkout{}, fmt.Errorf("sqlite: checkout: %w", err)
	}
	if !found {
		return checkout.Checkout{}, notFound("session")
	}
	return co, nil
}

// IdempotentSession returns the session stored under the merchant's live
// idempotency key, if any.
func (db *DB) IdempotentSession(ctx context.Context, merchantID, key string, requestHash []byte, now time.Time) (checkout.Session, bool, error) {
	var hash []byte
	var sessionID string
	err := db.r.QueryRowContext(ctx, sqlstore.IdempotentSessionQuery, merchantID, key, unixNanos(now.Add(-checkout.IdempotencyKeyTTL))).
		Scan(&hash, &sessionID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return checkout.Session{}, false, nil
	case err != nil:
		return checkout.Session{}, false, fmt.Errorf("sqlite: idempotency key: %w", err)
	case !bytes.Equal(hash, requestHash):
		return checkout.Session{}, false, &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with a different request body"}
	}
	s, err := session(ctx, db.r, sessionID)
	return s, err == nil, err
}
