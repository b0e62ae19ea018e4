package postgres

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// idempotencyPruneBatch bounds how many expired idempotency keys one
// CreateSessionIdempotent deletes: enough to keep up with the keys being
// made, never a long delete on the request's path.
const idempotencyPruneBatch = 100

// CreateSession stores a new session; ECONFLICT when the id is taken,
// ENOTFOUND when the merchant does not exist.
func (db *DB) CreateSession(ctx context.Context, s checkout.Session) error {
	_, err := insertSession(ctx, db.pool, s)
	return err
}

// insertSession stores s and returns it as stored (UTC, microseconds).
func insertSession(ctx context.Context, q querier, s checkout.Session) (checkout.Session, error) {
	values, err := sqlstore.SessionValues(s, ts(s.CreatedAt), ts(s.ExpiresAt), ts(s.ProcessingSince))
	if err != nil {
		return checkout.Session{}, err
	}
	stored, err := sqlstore.ScanSession(q.QueryRow(ctx, sqlstore.InsertSession+` RETURNING `+sqlstore.SessionColumns, values...))
	switch code, _ := pgCode(err); {
	case code == uniqueViolation:
		return checkout.Session{}, &checkout.Error{Code: checkout.ECONFLICT, Message: "a session with this id already exists"}
	case code == foreignKeyViolation:
		return checkout.Session{}, notFound("merchant")
	case err != nil:
		return checkout.Session{}, wrap("create session", err)
	}
	return stored, nil
}

// CreateSessionIdempotent stores s under the merchant's idempotency key
// unless a live key holds another session, in one transaction. The same key
// with another requestHash is EIDEMPOTENCY. The clock is s.CreatedAt: a key
// created 24 hours or more before it answers no more, and is taken over.
//
// The key row is written first, with INSERT ... ON CONFLICT: of several
// instances racing on one key, one inserts it and the others wait on it,
// then find it taken and answer its session. Only the winner inserts a
// session, in the same transaction as the key.
func (db *DB) CreateSessionIdempotent(ctx context.Context, s checkout.Session, key string, requestHash []byte) (stored checkout.Session, created bool, err error) {
	expired := ts(s.CreatedAt.Add(-checkout.IdempotencyKeyTTL))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		stored, created = checkout.Session{}, false
		// Keeps the table from growing without bound. SKIP LOCKED: instances
		// pruning at once share the work instead of waiting on each other.
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE (merchant_id, key) IN (
				SELECT merchant_id, key FROM idempotency_keys WHERE created_at <= $1
				ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			expired, idempotencyPruneBatch); err != nil {
			return wrap("expire idempotency keys", err)
		}
		// A conflicting key is locked even when the WHERE keeps it unchanged,
		// so it stays as read below until this transaction ends.
		var sessionID string
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys (merchant_id, key, request_hash, session_id, created_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (merchant_id, key) DO UPDATE SET
				request_hash = excluded.request_hash, session_id = excluded.session_id, created_at = excluded.created_at
			WHERE idempotency_keys.created_at <= $6
			RETURNING session_id`,
			s.MerchantID, key, requestHash, s.ID, ts(s.CreatedAt), expired).Scan(&sessionID)
		switch code, _ := pgCode(err); {
		case err == nil:
			// The key is ours: store the session it names.
			stored, err = insertSession(ctx, tx, s)
			created = err == nil
			return err
		case code == foreignKeyViolation:
			return notFound("merchant")
		case !errors.Is(err, pgx.ErrNoRows):
			return wrap("store idempotency key", err)
		}
		// A live key holds another session.
		var hash []byte
		if err := tx.QueryRow(ctx,
			`SELECT request_hash, session_id FROM idempotency_keys WHERE merchant_id = $1 AND key = $2`,
			s.MerchantID, key).Scan(&hash, &sessionID); err != nil {
			return wrap("idempotency key", err)
		}
		// The hash is of the merchant's own request body: nothing secret,
		// so a plain comparison is fine.
		if !bytes.Equal(hash, requestHash) {
			return &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with a different request body"}
		}
		stored, err = session(ctx, tx, sessionID)
		return err
	})
	if err != nil {
		return checkout.Session{}, false, err
	}
	return stored, created, nil
}

// Session returns a session; ENOTFOUND when missing.
func (db *DB) Session(ctx context.Context, id string) (checkout.Session, error) {
	return session(ctx, db.pool, id)
}

// session reads a session; forUpdate locks its row until the transaction
// ends, and answers the row as last committed.
// Checkout reads a session, its merchant and the merchant's origins in one
// query (sqlstore.CheckoutQuery).
func (db *DB) Checkout(ctx context.Context, sessionID string) (checkout.Checkout, error) {
	rows, err := db.pool.Query(ctx, sqlstore.CheckoutQuery, sessionID)
	if err != nil {
		return checkout.Checkout{}, wrap("checkout", err)
	}
	defer rows.Close()
	co, found, err := sqlstore.ScanCheckout(rows)
	if err != nil {
		return checkout.Checkout{}, wrap("checkout", err)
	}
	if !found {
		return checkout.Checkout{}, notFound("session")
	}
	return co, nil
}

func session(ctx context.Context, q querier, id string) (checkout.Session, error) {
	s, err := sqlstore.ScanSession(q.QueryRow(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Session{}, notFound("session")
	}
	if err != nil {
		return checkout.Session{}, wrap("session", err)
	}
	return s, nil
}

// IdempotentSession returns the session stored under the merchant's live
// idempotency key, if any.
func (db *DB) IdempotentSession(ctx context.Context, merchantID, key string, requestHash []byte, now time.Time) (checkout.Session, bool, error) {
	var hash []byte
	var sessionID string
	err := db.pool.QueryRow(ctx, sqlstore.IdempotentSessionQuery, merchantID, key, ts(now.Add(-checkout.IdempotencyKeyTTL))).
		Scan(&hash, &sessionID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return checkout.Session{}, false, nil
	case err != nil:
		return checkout.Session{}, false, wrap("idempotency key", err)
	case !bytes.Equal(hash, requestHash):
		return checkout.Session{}, false, &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with a different request body"}
	}
	s, err := session(ctx, db.pool, sessionID)
	return s, err == nil, err
}
