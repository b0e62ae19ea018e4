package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// queuePayment queues p's insert; FinishAttempt sends it inside its
// transaction, and reads its errors through paymentError.
func queuePayment(b *pgx.Batch, p checkout.Payment) error {
	values, err := sqlstore.PaymentValues(p, ts(p.CreatedAt), ts(p.AuthorizedUntil))
	if err != nil {
		return err
	}
	b.Queue(sqlstore.InsertPayment, values...)
	return nil
}

// paymentError is ECONFLICT for an error of a batch with queuePayment in it
// that a payment's unique key refused (its id, or a second payment of the
// session); any other error is itself.
func paymentError(err error) error {
	if code, constraint := pgCode(err); code == uniqueViolation && strings.HasPrefix(constraint, "payments_") {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout already has a payment", Err: err}
	}
	return err
}

// Payment returns one payment; ENOTFOUND when missing.
func (db *DB) Payment(ctx context.Context, id string) (checkout.Payment, error) {
	return scanPayment(db.pool.QueryRow(ctx, `SELECT `+sqlstore.PaymentColumns+` FROM payments WHERE id = $1`, id))
}

// scanPayment reads a row of sqlstore.PaymentColumns; ENOTFOUND for none.
func scanPayment(row pgx.Row) (checkout.Payment, error) {
	p, err := sqlstore.ScanPayment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, wrap("payment", err)
	}
	return p, nil
}

// DueAuthorizations returns up to limit payments awaiting capture past
// their authorized_until, the longest overdue first.
func (db *DB) DueAuthorizations(ctx context.Context, now time.Time, limit int) ([]checkout.Payment, error) {
	return readList(ctx, db.pool, "due authorizations", sqlstore.ScanPayments, sqlstore.DueAuthorizationsQuery(limit), now)
}

// MovePayment moves a payment from m.From to m.To in one conditional
// UPDATE (of two racing requests, from any instances, one wins), with its
// events in the same transaction; ECONFLICT when it is not in m.From,
// ENOTFOUND.
func (db *DB) MovePayment(ctx context.Context, m checkout.PaymentMove, events ...checkout.WebhookEvent) (checkout.Payment, error) {
	var p checkout.Payment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanPayment(tx.QueryRow(ctx, `UPDATE payments SET status = $3, amount_captured = $4, authorized_until = $5
			WHERE id = $1 AND status = $2
			RETURNING `+sqlstore.PaymentColumns, m.ID, m.From, m.To, m.AmountCaptured, ts(m.AuthorizedUntil)))
		if err != nil {
			return err
		}
		_, err = enqueueEvents(ctx, tx, dropUnsubscribed, events...)
		return err
	})
	if checkout.ErrorCode(err) != checkout.ENOTFOUND {
		return p, err
	}
	// Not updated: missing, or in another status.
	p, err = db.Payment(ctx, m.ID)
	if err != nil {
		return checkout.Payment{}, err
	}
	return checkout.Payment{}, &checkout.Error{Code: checkout.ECONFLICT, Message: "the payment is " + p.Status + ", not " + m.From}
}
