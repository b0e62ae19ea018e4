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

// insertPayment stores p; FinishAttempt calls it inside its transaction.
func insertPayment(ctx context.Context, q querier, p checkout.Payment) error {
	values, err := sqlstore.PaymentValues(p, unixNanos(p.CreatedAt), unixNanos(p.AuthorizedUntil))
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, sqlstore.InsertPayment, values...)
	if isDuplicate(err) {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout already has a payment"}
	}
	if err != nil {
		return fmt.Errorf("sqlite: store payment: %w", err)
	}
	return nil
}

// Payment returns one payment; ENOTFOUND when missing.
func (db *DB) Payment(ctx context.Context, id string) (checkout.Payment, error) {
	return payment(ctx, db.r, id)
}

func payment(ctx context.Context, q querier, id string) (checkout.Payment, error) {
	p, err := sqlstore.ScanPayment(q.QueryRowContext(ctx, `SELECT `+sqlstore.PaymentColumns+` FROM payments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, fmt.Errorf("sqlite: payment: %w", err)
	}
	return p, nil
}

// DueAuthorizations returns up to limit payments awaiting capture past
// their authorized_until, the longest overdue first.
func (db *DB) DueAuthorizations(ctx context.Context, now time.Time, limit int) ([]checkout.Payment, error) {
	return readList(ctx, db, "due authorizations", sqlstore.ScanPayments, sqlstore.DueAuthorizationsQuery(limit), unixNanos(now))
}

// MovePayment moves a payment from m.From to m.To in one conditional
// write; ECONFLICT when it is not in m.From, ENOTFOUND.
func (db *DB) MovePayment(ctx context.Context, m checkout.PaymentMove, events ...checkout.WebhookEvent) (checkout.Payment, error) {
	var p checkout.Payment
	err := db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payments SET status = ?, amount_captured = ?, authorized_until = ?
			WHERE id = ? AND status = ?`, m.To, m.AmountCaptured, unixNanos(m.AuthorizedUntil), m.ID, m.From)
		if err != nil {
			return fmt.Errorf("sqlite: move payment: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: move payment: %w", err)
		}
		if p, err = payment(ctx, tx, m.ID); err != nil {
			return err
		}
		if n == 0 {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "the payment is " + p.Status + ", not " + m.From}
		}
		return enqueueEvents(ctx, tx, events)
	})
	if err != nil {
		return checkout.Payment{}, err
	}
	return p, nil
}
