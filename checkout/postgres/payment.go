package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

const paymentColumns = `id, session_id, merchant_id, order_id, amount, currency, status, card_token,
	brand, last4, exp_month, exp_year, fingerprint, cvc_check, auth_code, created_at`

// insertPayment stores p; FinishAttempt calls it inside its transaction.
func insertPayment(ctx context.Context, q querier, p checkout.Payment) error {
	_, err := q.Exec(ctx, `INSERT INTO payments (`+paymentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		p.ID, p.SessionID, p.MerchantID, p.OrderID, p.Amount, p.Currency, p.Status, p.CardToken,
		string(p.Brand), p.Last4, p.ExpMonth, p.ExpYear, p.Fingerprint, string(p.CVCCheck), p.AuthCode,
		ts(p.CreatedAt))
	if code, _ := pgCode(err); code == uniqueViolation {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this checkout already has a payment"}
	}
	if err != nil {
		return wrap("store payment", err)
	}
	return nil
}

// Payment returns one payment; ENOTFOUND when missing.
func (db *DB) Payment(ctx context.Context, id string) (checkout.Payment, error) {
	var p checkout.Payment
	err := db.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id).Scan(
		&p.ID, &p.SessionID, &p.MerchantID, &p.OrderID, &p.Amount, &p.Currency, &p.Status, &p.CardToken,
		(*string)(&p.Brand), &p.Last4, &p.ExpMonth, &p.ExpYear, &p.Fingerprint, (*string)(&p.CVCCheck), &p.AuthCode,
		utcTime{&p.CreatedAt})
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, wrap("payment", err)
	}
	return p, nil
}
