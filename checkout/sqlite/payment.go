package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

const paymentColumns = `id, session_id, merchant_id, order_id, amount, currency, status, card_token,
	brand, last4, exp_month, exp_year, fingerprint, cvc_check, auth_code, created_at,
	risk_verdict, risk_score, risk_reasons, risk_platform, three_ds`

// insertPayment stores p; FinishAttempt calls it inside its transaction.
func insertPayment(ctx context.Context, q querier, p checkout.Payment) error {
	verdict, score, reasons, platform, err := riskColumns(p.Risk)
	if err != nil {
		return err
	}
	threeDS, err := threeDSColumn(p.ThreeDS)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO payments (`+paymentColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.SessionID, p.MerchantID, p.OrderID, p.Amount, p.Currency, p.Status, p.CardToken,
		string(p.Brand), p.Last4, p.ExpMonth, p.ExpYear, p.Fingerprint, string(p.CVCCheck), p.AuthCode,
		unixNanos(p.CreatedAt), verdict, score, reasons, platform, threeDS)
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
	var p checkout.Payment
	var risk riskDest
	var threeDS threeDSDest
	err := q.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = ?`, id).Scan(
		&p.ID, &p.SessionID, &p.MerchantID, &p.OrderID, &p.Amount, &p.Currency, &p.Status, &p.CardToken,
		(*string)(&p.Brand), &p.Last4, &p.ExpMonth, &p.ExpYear, &p.Fingerprint, (*string)(&p.CVCCheck), &p.AuthCode,
		timeDest{&p.CreatedAt}, &risk.verdict, &risk.score, &risk.reasons, &risk.platform, &threeDS.s)
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, fmt.Errorf("sqlite: payment: %w", err)
	}
	if p.Risk, err = risk.decision(); err != nil {
		return checkout.Payment{}, err
	}
	if p.ThreeDS, err = threeDS.view(); err != nil {
		return checkout.Payment{}, err
	}
	return p, nil
}

// SetPaymentStatus moves a payment from status from to status to in one
// conditional write; ECONFLICT when it is not in from, ENOTFOUND.
func (db *DB) SetPaymentStatus(ctx context.Context, id, from, to string, events ...checkout.WebhookEvent) (checkout.Payment, error) {
	var p checkout.Payment
	err := db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payments SET status = ? WHERE id = ? AND status = ?`, to, id, from)
		if err != nil {
			return fmt.Errorf("sqlite: set payment status: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: set payment status: %w", err)
		}
		if p, err = payment(ctx, tx, id); err != nil {
			return err
		}
		if n == 0 {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "the payment is " + p.Status + ", not " + from}
		}
		return enqueueEvents(ctx, tx, events)
	})
	if err != nil {
		return checkout.Payment{}, err
	}
	return p, nil
}
