package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// BeginAttempt moves an open, unexpired session (or one stuck in processing
// since before staleBefore) to processing and counts the attempt, in one
// conditional update. It returns the session as it was before; ECONFLICT when
// another attempt holds it or it is paid, EEXPIRED when it has expired,
// ENOTFOUND when it does not exist.
func (db *DB) BeginAttempt(ctx context.Context, id string, now, staleBefore time.Time) (checkout.Session, error) {
	var before checkout.Session
	err := db.write(ctx, func(tx *writeTx) error {
		var err error
		before, err = beginAttempt(ctx, tx, checkout.AttemptBegin{SessionID: id, Now: now, StaleBefore: staleBefore})
		return err
	})
	if err != nil {
		return checkout.Session{}, err
	}
	return before, nil
}

// beginAttempt is BeginAttempt inside the caller's write: the session as it
// was, or why it could not begin.
func beginAttempt(ctx context.Context, tx *writeTx, b checkout.AttemptBegin) (checkout.Session, error) {
	// The write lock is held from BEGIN, so this read is the state the
	// update below applies to.
	before, err := session(ctx, tx, b.SessionID)
	if err != nil {
		return checkout.Session{}, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE sessions
		SET status = 'processing', attempts = attempts + 1, processing_since = ?
		WHERE id = ? AND ((status = 'open' AND expires_at > ?)
		               OR (status = 'processing' AND processing_since < ?))`,
		unixNanos(b.Now), b.SessionID, unixNanos(b.Now), unixNanos(b.StaleBefore))
	if err != nil {
		return checkout.Session{}, fmt.Errorf("sqlite: begin attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return checkout.Session{}, fmt.Errorf("sqlite: begin attempt: %w", err)
	}
	if n != 1 {
		return checkout.Session{}, checkout.AttemptRefused(before.Status)
	}
	return before, nil
}

// FinishAttempt records the attempt's outcome. With a payment, the payment is
// stored and the session becomes paid, in one transaction; without one, the
// session is open again. Either change applies only while the session is
// processing this attempt (its attempt count is a.N): an attempt that a
// stale-processing takeover superseded was reversed by its successor, so it
// may neither pay the session nor reopen it. Paying is ECONFLICT otherwise;
// ENOTFOUND when the session does not exist.
func (db *DB) FinishAttempt(ctx context.Context, a checkout.Attempt, p *checkout.Payment, events ...checkout.WebhookEvent) error {
	if p != nil && p.SessionID != a.SessionID {
		return fmt.Errorf("sqlite: finish attempt: payment of session %s for an attempt on %s", p.SessionID, a.SessionID)
	}
	return db.write(ctx, func(tx *writeTx) error {
		if err := releaseSlot(ctx, tx, a.IdempotencyKey()); err != nil {
			return err
		}
		// The session changes only while this attempt holds it: the update's
		// condition decides, and only when it changed nothing is the
		// session read, to say why.
		held, err := moveHeldSession(ctx, tx, a, p)
		if err != nil {
			return err
		}
		if !held {
			var status string
			err := tx.QueryRowContext(ctx, `SELECT status FROM sessions WHERE id = ?`, a.SessionID).Scan(&status)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return notFound("session")
			case err != nil:
				return fmt.Errorf("sqlite: finish attempt: %w", err)
			case p != nil && status == string(checkout.SessionPaid):
				return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout is already paid"}
			case p != nil:
				return &checkout.Error{Code: checkout.ECONFLICT, Message: "this attempt no longer holds the checkout"}
			}
		}
		values, err := sqlstore.AttemptValues(a, unixNanos(a.CreatedAt))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlstore.UpsertAttempt, values...); err != nil {
			return fmt.Errorf("sqlite: record attempt: %w", err)
		}
		// The events commit with whatever this transaction commits.
		if err := enqueueEvents(ctx, tx, events); err != nil {
			return err
		}
		if p != nil {
			return insertPayment(ctx, tx, *p)
		}
		return nil
	})
}

// moveHeldSession marks the session paid by p, or without p open again, if
// a still holds it (processing, its attempt count a.N), and says whether it
// did.
func moveHeldSession(ctx context.Context, tx *writeTx, a checkout.Attempt, p *checkout.Payment) (bool, error) {
	var res sql.Result
	var err error
	if p == nil {
		res, err = tx.ExecContext(ctx, `UPDATE sessions SET status = 'open', processing_since = NULL
			WHERE id = ? AND status = 'processing' AND attempts = ?`, a.SessionID, a.N)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE sessions SET status = 'paid', payment_id = ?, processing_since = NULL
			WHERE id = ? AND status = 'processing' AND attempts = ?`, p.ID, a.SessionID, a.N)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: finish attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: finish attempt: %w", err)
	}
	return n == 1, nil
}

// Attempts returns a session's attempts, oldest first.
func (db *DB) Attempts(ctx context.Context, sessionID string) ([]checkout.Attempt, error) {
	return readList(ctx, db, "attempts", sqlstore.ScanAttempts, `SELECT `+sqlstore.AttemptColumns+` FROM attempts WHERE session_id = ? ORDER BY n`, sessionID)
}
