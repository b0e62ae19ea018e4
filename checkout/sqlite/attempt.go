package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
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
		// The write lock is held from BEGIN, so this read is the state the
		// update below applies to.
		before, err = session(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions
			SET status = 'processing', attempts = attempts + 1, processing_since = ?
			WHERE id = ? AND ((status = 'open' AND expires_at > ?)
			               OR (status = 'processing' AND processing_since < ?))`,
			unixNanos(now), id, unixNanos(now), unixNanos(staleBefore))
		if err != nil {
			return fmt.Errorf("sqlite: begin attempt: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: begin attempt: %w", err)
		}
		if n == 1 {
			return nil
		}
		return checkout.AttemptRefused(before.Status)
	})
	if err != nil {
		return checkout.Session{}, err
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
		var status string
		var attempts int
		err := tx.QueryRowContext(ctx, `SELECT status, attempts FROM sessions WHERE id = ?`, a.SessionID).
			Scan(&status, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("session")
		}
		if err != nil {
			return fmt.Errorf("sqlite: finish attempt: %w", err)
		}
		verdict, score, reasons, platform, err := riskColumns(a.Risk)
		if err != nil {
			return err
		}
		threeDS, err := threeDSColumn(a.ThreeDS)
		if err != nil {
			return err
		}
		// The last outcome wins: an approved attempt that could not be
		// recorded is recorded again as reversed.
		_, err = tx.ExecContext(ctx, `INSERT INTO attempts
			(session_id, n, outcome, decline_reason, cvc_check, card_token, fingerprint, brand, last4, created_at,
			 risk_verdict, risk_score, risk_reasons, risk_platform, three_ds)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (session_id, n) DO UPDATE SET
				outcome = excluded.outcome, decline_reason = excluded.decline_reason,
				cvc_check = excluded.cvc_check, card_token = excluded.card_token,
				fingerprint = excluded.fingerprint, brand = excluded.brand,
				last4 = excluded.last4, created_at = excluded.created_at,
				risk_verdict = excluded.risk_verdict, risk_score = excluded.risk_score,
				risk_reasons = excluded.risk_reasons, risk_platform = excluded.risk_platform,
				three_ds = excluded.three_ds`,
			a.SessionID, a.N, a.Outcome, a.DeclineReason, string(a.CVCCheck), a.CardToken, a.Fingerprint,
			string(a.Brand), a.Last4, unixNanos(a.CreatedAt), verdict, score, reasons, platform, threeDS)
		if err != nil {
			return fmt.Errorf("sqlite: record attempt: %w", err)
		}
		// The events commit with whatever this transaction commits.
		if err := enqueueEvents(ctx, tx, events); err != nil {
			return err
		}

		holds := status == string(checkout.SessionProcessing) && attempts == a.N
		if p == nil {
			if holds {
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET status = 'open', processing_since = NULL
					WHERE id = ? AND status = 'processing' AND attempts = ?`, a.SessionID, a.N); err != nil {
					return fmt.Errorf("sqlite: reopen session: %w", err)
				}
			}
			return nil
		}
		switch {
		case status == string(checkout.SessionPaid):
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout is already paid"}
		case !holds:
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "this attempt no longer holds the checkout"}
		}
		if err := insertPayment(ctx, tx, *p); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET status = 'paid', payment_id = ?, processing_since = NULL
			WHERE id = ? AND status = 'processing' AND attempts = ?`, p.ID, a.SessionID, a.N)
		if err != nil {
			return fmt.Errorf("sqlite: mark session paid: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// Cannot happen while the transaction holds the write lock;
			// refuse rather than commit a payment without a paid session.
			return errors.Join(errors.New("sqlite: mark session paid: session changed under the write lock"), err)
		}
		return nil
	})
}

// Attempts returns a session's attempts, oldest first.
func (db *DB) Attempts(ctx context.Context, sessionID string) ([]checkout.Attempt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT session_id, n, outcome, decline_reason, cvc_check, card_token,
		fingerprint, brand, last4, created_at, risk_verdict, risk_score, risk_reasons, risk_platform, three_ds
		FROM attempts WHERE session_id = ? ORDER BY n`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	defer rows.Close()
	var out []checkout.Attempt
	for rows.Next() {
		var a checkout.Attempt
		var risk riskDest
		var threeDS threeDSDest
		if err := rows.Scan(&a.SessionID, &a.N, &a.Outcome, &a.DeclineReason, (*string)(&a.CVCCheck), &a.CardToken,
			&a.Fingerprint, (*string)(&a.Brand), &a.Last4, timeDest{&a.CreatedAt},
			&risk.verdict, &risk.score, &risk.reasons, &risk.platform, &threeDS.s); err != nil {
			return nil, fmt.Errorf("sqlite: attempts: %w", err)
		}
		if a.Risk, err = risk.decision(); err != nil {
			return nil, err
		}
		if a.ThreeDS, err = threeDS.view(); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	return out, nil
}
