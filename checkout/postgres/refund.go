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

var _ checkout.RefundStore = (*DB)(nil)

// CreateRefund reserves the refund's amount of its payment and stores it
// pending, in one transaction under the payment's row lock (FOR NO KEY
// UPDATE, as chargebacks take it): refunds and chargebacks racing from
// any instances see one another's amounts, and never together take more
// than was captured. Two requests with one Idempotency-Key racing: the
// second's insert meets the unique index, and it answers the first's
// refund.
func (db *DB) CreateRefund(ctx context.Context, r checkout.Refund, key string, requestHash []byte) (checkout.Refund, bool, error) {
	if key != "" {
		if prior, done, err := db.refundForKey(ctx, r, key, requestHash); done || err != nil {
			return prior, false, err
		}
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+sqlstore.PaymentColumns+` FROM payments WHERE id = $1 FOR NO KEY UPDATE`, r.PaymentID))
		if err != nil {
			return err
		}
		var charged int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint FROM chargebacks WHERE payment_id = $1`, p.ID).Scan(&charged); err != nil {
			return wrap("chargebacks of the payment", err)
		}
		if r.Amount, err = checkout.RefundAmount(p, charged, r.Amount); err != nil {
			return err // fn runs once: the transaction is rolled back with it
		}
		if key != "" {
			// A refund whose key's time is over gives it up to this one;
			// one within it keeps it (a request racing this one with the
			// key meets the unique index, and answers as this one).
			if _, err := tx.Exec(ctx, `UPDATE refunds SET idempotency_key = NULL
				WHERE merchant_id = $1 AND idempotency_key = $2 AND created_at <= $3`,
				r.MerchantID, key, r.CreatedAt.Add(-checkout.IdempotencyKeyTTL)); err != nil {
				return wrap("release idempotency key", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE payments SET amount_refunded = amount_refunded + $1 WHERE id = $2`, r.Amount, p.ID); err != nil {
			return wrap("reserve refund", err)
		}
		var k any
		if key != "" {
			k = key
		}
		if _, err := tx.Exec(ctx, sqlstore.InsertRefund, append(sqlstore.RefundValues(r, ts(r.CreatedAt), ts(r.UpdatedAt)), k, requestHash)...); err != nil {
			return wrap("store refund", err)
		}
		return nil
	})
	if code, constraint := pgCode(err); code == uniqueViolation && constraint == "refunds_idempotency" {
		// Another request with the key committed first: answer as it.
		prior, _, err := db.refundForKey(ctx, r, key, requestHash)
		return prior, false, err
	}
	if err != nil {
		return checkout.Refund{}, false, err
	}
	return r, true, nil
}

// refundForKey answers a request whose Idempotency-Key names a refund made
// within checkout.IdempotencyKeyTTL: done with that refund for the same
// request, EIDEMPOTENCY for another; not done when the key names none.
func (db *DB) refundForKey(ctx context.Context, r checkout.Refund, key string, requestHash []byte) (checkout.Refund, bool, error) {
	var hash []byte
	prior, err := sqlstore.ScanRefund(db.pool.QueryRow(ctx, `SELECT `+sqlstore.RefundColumns+`, request_hash FROM refunds
		WHERE merchant_id = $1 AND idempotency_key = $2`, r.MerchantID, key), &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return checkout.Refund{}, false, nil
	case err != nil:
		return checkout.Refund{}, false, wrap("refund by key", err)
	case r.CreatedAt.Sub(prior.CreatedAt) >= checkout.IdempotencyKeyTTL:
		return checkout.Refund{}, false, nil
	case !bytes.Equal(hash, requestHash):
		return checkout.Refund{}, true, &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with another request"}
	}
	return prior, true, nil
}

// SettleRefund ends a pending refund, with its events, in one transaction.
func (db *DB) SettleRefund(ctx context.Context, id, status, failureReason string, at time.Time, events ...checkout.WebhookEvent) (checkout.Refund, error) {
	var r checkout.Refund
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanRefund(tx.QueryRow(ctx, `UPDATE refunds SET status = $2, failure_reason = $3, updated_at = $4
			WHERE id = $1 AND status = 'pending' RETURNING `+sqlstore.RefundColumns, id, status, failureReason, at))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlstore.SettleRefundPayment(status), r.Amount, r.PaymentID); err != nil {
			return wrap("settle refund's payment", err)
		}
		_, err = enqueueEvents(ctx, tx, dropUnsubscribed, events...)
		return err
	})
	if checkout.ErrorCode(err) != checkout.ENOTFOUND {
		return r, err
	}
	// Not updated: missing, or settled already.
	now, err := db.Refund(ctx, id)
	if err != nil {
		return checkout.Refund{}, err
	}
	return checkout.Refund{}, &checkout.Error{Code: checkout.ECONFLICT, Message: "the refund is " + now.Status + ", not pending"}
}

// Refund returns one refund; ENOTFOUND when missing.
func (db *DB) Refund(ctx context.Context, id string) (checkout.Refund, error) {
	return scanRefund(db.pool.QueryRow(ctx, `SELECT `+sqlstore.RefundColumns+` FROM refunds WHERE id = $1`, id))
}

// scanRefund reads a row of sqlstore.RefundColumns; ENOTFOUND for none.
func scanRefund(row pgx.Row) (checkout.Refund, error) {
	r, err := sqlstore.ScanRefund(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Refund{}, notFound("refund")
	}
	if err != nil {
		return checkout.Refund{}, wrap("refund", err)
	}
	return r, nil
}

// Refunds returns a payment's refunds, oldest first.
func (db *DB) Refunds(ctx context.Context, paymentID string) ([]checkout.Refund, error) {
	return db.refunds(ctx, `SELECT `+sqlstore.RefundColumns+` FROM refunds WHERE payment_id = $1 ORDER BY created_at, id`, paymentID)
}

// PendingRefunds returns up to limit refunds pending since before before.
func (db *DB) PendingRefunds(ctx context.Context, before time.Time, limit int) ([]checkout.Refund, error) {
	return db.refunds(ctx, sqlstore.PendingRefundsQuery(limit), before)
}

func (db *DB) refunds(ctx context.Context, query string, args ...any) ([]checkout.Refund, error) {
	return readList(ctx, db.pool, "refunds", sqlstore.ScanRefunds, query, args...)
}
