package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

const paymentColumns = `id, session_id, merchant_id, order_id, amount, currency, status, card_token,
	brand, last4, exp_month, exp_year, fingerprint, cvc_check, auth_code, created_at,
	risk_verdict, risk_score, risk_reasons, risk_platform, three_ds`

// queuePayment queues p's insert; FinishAttempt sends it inside its
// transaction, and reads its errors through paymentError.
func queuePayment(b *pgx.Batch, p checkout.Payment) error {
	verdict, score, reasons, platform, err := riskColumns(p.Risk)
	if err != nil {
		return err
	}
	threeDS, err := threeDSColumn(p.ThreeDS)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO payments (`+paymentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		p.ID, p.SessionID, p.MerchantID, p.OrderID, p.Amount, p.Currency, p.Status, p.CardToken,
		string(p.Brand), p.Last4, p.ExpMonth, p.ExpYear, p.Fingerprint, string(p.CVCCheck), p.AuthCode,
		ts(p.CreatedAt), verdict, score, reasons, platform, threeDS)
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
	return scanPayment(db.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
}

func scanPayment(row pgx.Row) (checkout.Payment, error) {
	var p checkout.Payment
	var risk riskDest
	var threeDS []byte
	err := row.Scan(
		&p.ID, &p.SessionID, &p.MerchantID, &p.OrderID, &p.Amount, &p.Currency, &p.Status, &p.CardToken,
		(*string)(&p.Brand), &p.Last4, &p.ExpMonth, &p.ExpYear, &p.Fingerprint, (*string)(&p.CVCCheck), &p.AuthCode,
		utcTime{&p.CreatedAt}, &risk.verdict, &risk.score, &risk.reasons, &risk.platform, &threeDS)
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Payment{}, notFound("payment")
	}
	if err != nil {
		return checkout.Payment{}, wrap("payment", err)
	}
	if p.Risk, err = risk.decision(); err != nil {
		return checkout.Payment{}, err
	}
	if p.ThreeDS, err = threeDSView(threeDS); err != nil {
		return checkout.Payment{}, err
	}
	return p, nil
}

// SetPaymentStatus moves a payment from status from to status to in one
// conditional UPDATE (of two racing requests, from any instances, one
// wins), with its events in the same transaction; ECONFLICT when it is not
// in from, ENOTFOUND.
func (db *DB) SetPaymentStatus(ctx context.Context, id, from, to string, events ...checkout.WebhookEvent) (checkout.Payment, error) {
	var p checkout.Payment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanPayment(tx.QueryRow(ctx, `UPDATE payments SET status = $3 WHERE id = $1 AND status = $2
			RETURNING `+paymentColumns, id, from, to))
		if err != nil {
			return err
		}
		_, err = enqueueEvents(ctx, tx, events...)
		return err
	})
	if checkout.ErrorCode(err) != checkout.ENOTFOUND {
		return p, err
	}
	// Not updated: missing, or in another status.
	p, err = db.Payment(ctx, id)
	if err != nil {
		return checkout.Payment{}, err
	}
	return checkout.Payment{}, &checkout.Error{Code: checkout.ECONFLICT, Message: "the payment is " + p.Status + ", not " + from}
}
