package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// BeginAttempt moves an open, unexpired session (or one stuck in processing
// since before staleBefore) to processing and counts the attempt. It returns
// the session as it was before; ECONFLICT when another attempt holds it or
// it is paid, EEXPIRED when it has expired, ENOTFOUND when it does not exist.
//
// Two round trips: the BEGIN, the read and the update, then the COMMIT.
// Not one (a batch is an implicit transaction): a caller that gives up
// while the row's lock is awaited leaves the server with the update and
// the commit already sent, and it would commit an attempt nobody makes;
// without a COMMIT sent the server rolls back. The session row is locked
// (FOR UPDATE) before it is read: of several submissions, from any number
// of instances, the first to lock it moves it to processing, and each
// later one reads it as processing once the first commits.
func (db *DB) BeginAttempt(ctx context.Context, id string, now, staleBefore time.Time) (checkout.Session, error) {
	var before checkout.Session
	b := &pgx.Batch{}
	moved := queueBegin(b, &checkout.AttemptBegin{SessionID: id, Now: now, StaleBefore: staleBefore}, &before)
	if err := db.inTxFrom(ctx, "begin attempt", b, func(pgx.Tx) error { return nil }); err != nil {
		return checkout.Session{}, err
	}
	if *moved {
		return before, nil
	}
	return checkout.Session{}, checkout.AttemptRefused(before.Status)
}

// queueBegin queues BeginAttempt's statements for b (none when b is nil):
// the session's lock and read into before, and the update, whose success
// the returned flag tells once the batch has run.
func queueBegin(batch *pgx.Batch, b *checkout.AttemptBegin, before *checkout.Session) (moved *bool) {
	moved = new(bool)
	if b == nil {
		return moved
	}
	batch.Queue(`SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = $1 FOR UPDATE`, b.SessionID).QueryRow(func(row pgx.Row) error {
		var err error
		*before, err = sqlstore.ScanSession(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("session")
		}
		return err
	})
	batch.Queue(`UPDATE sessions
		SET status = 'processing', attempts = attempts + 1, processing_since = $2
		WHERE id = $1 AND ((status = 'open' AND expires_at > $2)
		                OR (status = 'processing' AND processing_since < $3))`,
		b.SessionID, ts(b.Now), ts(b.StaleBefore)).Exec(func(tag pgconn.CommandTag) error {
		*moved = tag.RowsAffected() == 1
		return nil
	})
	return moved
}

// FinishAttempt records the attempt's outcome. With a payment, the payment is
// stored and the session becomes paid, in one transaction; without one, the
// session is open again. Either change applies only while the session is
// processing this attempt (its attempt count is a.N), read under the row's
// lock: an attempt that a stale-processing takeover superseded was reversed
// by its successor, so it may neither pay the session nor reopen it. Paying
// is ECONFLICT otherwise; ENOTFOUND when the session does not exist.
//
// Two round trips: the BEGIN with the session's lock and read, the end of
// the lockout reservation, the attempt, the events with their deliveries,
// and the session's change (its WHERE is the holding: the reopening, or
// the payment with the session's paid); then the COMMIT, or a ROLLBACK
// when the read says the attempt does not hold the session, which undoes
// the payment queued on the chance that it did.
//
// When the COMMIT of a payment fails, the server may have committed it all
// the same (the connection broke after the commit). FinishAttempt then reads
// the payment back and reports success if it is there, since the caller
// reverses the authorization on an error. (The Service calls it with a
// context that is never cancelled, so the read-back runs.)
func (db *DB) FinishAttempt(ctx context.Context, a checkout.Attempt, p *checkout.Payment, events ...checkout.WebhookEvent) error {
	if p != nil && p.SessionID != a.SessionID {
		return fmt.Errorf("postgres: finish attempt: payment of session %s for an attempt on %s", p.SessionID, a.SessionID)
	}
	values, err := sqlstore.AttemptValues(a, ts(a.CreatedAt))
	if err != nil {
		return err
	}
	var status string
	var attempts int
	var paid bool
	first := &pgx.Batch{}
	first.Queue(`SELECT status, attempts FROM sessions WHERE id = $1 FOR UPDATE`, a.SessionID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&status, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("session")
		}
		return err
	})
	queueReleaseSlot(first, a.IdempotencyKey())
	first.Queue(sqlstore.UpsertAttempt, values...)
	// The events, with their deliveries, commit with whatever this
	// transaction commits.
	queueEvents(first, dropUnsubscribed, events)
	if p == nil {
		first.Queue(`UPDATE sessions SET status = 'open', processing_since = NULL
			WHERE id = $1 AND status = 'processing' AND attempts = $2`, a.SessionID, a.N)
	} else {
		if err := queuePayment(first, *p); err != nil {
			return err
		}
		first.Queue(`UPDATE sessions SET status = 'paid', payment_id = $1, processing_since = NULL
			WHERE id = $2 AND status = 'processing' AND attempts = $3`, p.ID, a.SessionID, a.N).
			Exec(func(tag pgconn.CommandTag) error {
				paid = tag.RowsAffected() == 1
				return nil
			})
	}

	err = db.inTxFrom(ctx, "finish attempt", first, func(pgx.Tx) error {
		holds := status == string(checkout.SessionProcessing) && attempts == a.N
		switch {
		case p == nil:
			return nil
		case status == string(checkout.SessionPaid):
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout is already paid"}
		case !holds:
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "this attempt no longer holds the checkout"}
		case !paid:
			// Cannot happen while the transaction holds the row lock;
			// refuse rather than commit a payment without a paid session.
			return errors.New("postgres: mark session paid: session changed under the row lock")
		}
		return nil
	})
	var ce *commitError
	if p != nil && errors.As(err, &ce) && db.paymentStored(ctx, *p) {
		return nil
	}
	if p != nil {
		return paymentError(err)
	}
	return err
}

// paymentCheckTimeout bounds the read-back after a failed COMMIT.
const paymentCheckTimeout = 5 * time.Second

// paymentStored reports whether p is stored and its session paid by it: the
// outcome of a COMMIT whose answer was lost. False when that cannot be told.
func (db *DB) paymentStored(ctx context.Context, p checkout.Payment) bool {
	ctx, cancel := context.WithTimeout(ctx, paymentCheckTimeout)
	defer cancel()
	var paid bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payments p JOIN sessions s ON s.id = p.session_id
		WHERE p.id = $1 AND s.id = $2 AND s.status = 'paid' AND s.payment_id = p.id)`, p.ID, p.SessionID).Scan(&paid)
	return err == nil && paid
}

// Attempts returns a session's attempts, oldest first.
func (db *DB) Attempts(ctx context.Context, sessionID string) ([]checkout.Attempt, error) {
	return readList(ctx, db.pool, "attempts", sqlstore.ScanAttempts, `SELECT `+sqlstore.AttemptColumns+` FROM attempts WHERE session_id = $1 ORDER BY n`, sessionID)
}
