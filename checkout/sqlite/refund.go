package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var _ checkout.RefundStore = (*DB)(nil)

// CreateRefund reserves the refund's amount of its payment and stores it
// pending, in one write: SQLite's one writer serializes it with every
// other refund, capture and chargeback, so refunds racing on any number of
// connections never take more than was captured.
func (db *DB) CreateRefund(ctx context.Context, r checkout.Refund, key string, requestHash []byte) (checkout.Refund, bool, error) {
	var stored checkout.Refund
	created := false
	err := db.write(ctx, func(tx *writeTx) error {
		created = false
		if key != "" {
			prior, hash, err := refundByKey(ctx, tx, r.MerchantID, key)
			switch {
			case err == nil && r.CreatedAt.Sub(prior.CreatedAt) < checkout.IdempotencyKeyTTL:
				if !bytes.Equal(hash, requestHash) {
					return &checkout.Error{Code: checkout.EIDEMPOTENCY, Message: "this Idempotency-Key was used with another request"}
				}
				stored = prior
				return nil
			case err == nil: // the key's time is over: it may name a new refund
				if _, err := tx.ExecContext(ctx, `UPDATE refunds SET idempotency_key = NULL WHERE id = ?`, prior.ID); err != nil {
					return fmt.Errorf("sqlite: release idempotency key: %w", err)
				}
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("sqlite: refund by key: %w", err)
			}
		}
		p, err := payment(ctx, tx, r.PaymentID)
		if err != nil {
			return err
		}
		var charged int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(amount), 0) FROM chargebacks WHERE payment_id = ?`, p.ID).Scan(&charged); err != nil {
			return fmt.Errorf("sqlite: chargebacks of the payment: %w", err)
		}
		// r itself stays as asked: the write may run again (writer.go).
		next := r
		if next.Amount, err = checkout.RefundAmount(p, charged, r.Amount); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payments SET amount_refunded = amount_refunded + ? WHERE id = ?`, next.Amount, p.ID); err != nil {
			return fmt.Errorf("sqlite: reserve refund: %w", err)
		}
		var k any
		if key != "" {
			k = key
		}
		if _, err := tx.ExecContext(ctx, sqlstore.InsertRefund,
			append(sqlstore.RefundValues(next, unixNanos(next.CreatedAt), unixNanos(next.UpdatedAt)), k, requestHash)...); err != nil {
			return fmt.Errorf("sqlite: store refund: %w", err)
		}
		stored, created = next, true
		return nil
	})
	if err != nil {
		return checkout.Refund{}, false, err
	}
	return stored, created, nil
}

func refundByKey(ctx context.Context, q querier, merchantID, key string) (checkout.Refund, []byte, error) {
	var hash []byte
	r, err := sqlstore.ScanRefund(q.QueryRowContext(ctx, `SELECT `+sqlstore.RefundColumns+`, request_hash FROM refunds
		WHERE merchant_id = ? AND idempotency_key = ?`, merchantID, key), &hash)
	return r, hash, err
}

// SettleRefund ends a pending refund, with its events, in one write.
func (db *DB) SettleRefund(ctx context.Context, id, status, failureReason string, at time.Time, events ...checkout.WebhookEvent) (checkout.Refund, error) {
	var r checkout.Refund
	err := db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE refunds SET status = ?, failure_reason = ?, updated_at = ? WHERE id = ? AND status = 'pending'`,
			status, failureReason, unixNanos(at), id)
		if err != nil {
			return fmt.Errorf("sqlite: settle refund: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: settle refund: %w", err)
		}
		if r, err = refund(ctx, tx, id); err != nil {
			return err
		}
		if n == 0 {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "the refund is " + r.Status + ", not pending"}
		}
		if _, err := tx.ExecContext(ctx, sqlstore.SettleRefundPayment(status), r.Amount, r.PaymentID); err != nil {
			return fmt.Errorf("sqlite: settle refund's payment: %w", err)
		}
		return enqueueEvents(ctx, tx, events)
	})
	if err != nil {
		return checkout.Refund{}, err
	}
	return r, nil
}

// Refund returns one refund; ENOTFOUND when missing.
func (db *DB) Refund(ctx context.Context, id string) (checkout.Refund, error) {
	return refund(ctx, db.r, id)
}

func refund(ctx context.Context, q querier, id string) (checkout.Refund, error) {
	r, err := sqlstore.ScanRefund(q.QueryRowContext(ctx, `SELECT `+sqlstore.RefundColumns+` FROM refunds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Refund{}, notFound("refund")
	}
	if err != nil {
		return checkout.Refund{}, fmt.Errorf("sqlite: refund: %w", err)
	}
	return r, nil
}

// Refunds returns a payment's refunds, oldest first.
func (db *DB) Refunds(ctx context.Context, paymentID string) ([]checkout.Refund, error) {
	return db.refunds(ctx, `SELECT `+sqlstore.RefundColumns+` FROM refunds WHERE payment_id = ? ORDER BY created_at, id`, paymentID)
}

// PendingRefunds returns up to limit refunds pending since before before.
func (db *DB) PendingRefunds(ctx context.Context, before time.Time, limit int) ([]checkout.Refund, error) {
	return db.refunds(ctx, sqlstore.PendingRefundsQuery(limit), unixNanos(before))
}

func (db *DB) refunds(ctx context.Context, query string, args ...any) ([]checkout.Refund, error) {
	return readList(ctx, db, "refunds", sqlstore.ScanRefunds, query, args...)
}
