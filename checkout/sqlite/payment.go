package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

const paymentColumns = `id, session_id, merchant_id, order_id, amount, currency, status, card_token,
	brand, last4, exp_month, exp_year, fingerprint, cvc_check, auth_code, created_at`

// insertPayment stores p; FinishAttempt calls it inside its transaction.
func insertPayment(ctx context.Context, q querier, p checkout.Payment) error {
	_, err := q.ExecContext(ctx, `INSERT INTO payments (`+paymentColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.SessionID, p.MerchantID, p.OrderID, p.Amount, p.Currency, p.Status, p.CardToken,
		string(p.Brand), p.Last4, p.ExpMonth, p.ExpYear, p.Fingerprint, string(p.CVCCheck), p.AuthCode,
		unixNanos(p.CreatedAt))
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
	var p checkout.Payment
	err := db.r.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = ?`, id).Scan(
		&p.ID, &p.SessionID, &p.MerchantID, &p.OrderID, &p.Amount, &p.Currency, &p.Status, &p.CardToken,
		(*string)(&p.Brand), &p.Last4, &p.ExpMonth, &p.ExpYear, &p.Fingerprint, (*string)(&p.CVCCheck), &p.AuthCode,
		timeDest{&p.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, fmt.Errorf("sqlite: payment: %w", err)
	}
	return p, nil
}
