package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var (
	_ checkout.ChargebackStore = (*DB)(nil)
	_ checkout.GuaranteeStore  = (*DB)(nil)
)

// CreateChargeback reads the basis, lets decide judge it, and stores the
// chargeback with its event and deliveries, in one transaction.
//
// Two row locks, always taken in this order (so two transactions cannot
// deadlock on them): the payment's (FOR NO KEY UPDATE), so that concurrent
// chargebacks on one payment see each other's amounts, and the merchant's
// guarantee row (created empty if missing, then FOR UPDATE), so that
// concurrent chargebacks of one merchant, from any instance, decide their
// coverage one after another. Under READ COMMITTED each statement after a
// lock is granted reads what the previous holder committed, so the sums
// below include every chargeback decided before this one.
func (db *DB) CreateChargeback(ctx context.Context, merchantID, paymentID string, year int,
	decide func(checkout.ChargebackBasis) (checkout.Chargeback, checkout.WebhookEvent, error)) (checkout.Chargeback, error) {
	// The payment's fixed fields (amount, currency, screening) are read
	// before the transaction, on a connection of its own: reading them
	// inside would need a second connection while this one is held, which
	// a busy pool may never grant. What can change (status) is read again
	// under the lock.
	p, err := db.Payment(ctx, paymentID)
	if checkout.ErrorCode(err) == checkout.ENOTFOUND || (err == nil && p.MerchantID != merchantID) {
		// Another merchant's payment is not confirmed to exist.
		return checkout.Chargeback{}, notFound("payment")
	}
	if err != nil {
		return checkout.Chargeback{}, err
	}
	var cb checkout.Chargeback
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		b := checkout.ChargebackBasis{Payment: p}
		if p.Risk != nil {
			b.RiskVerdict = string(p.Risk.Verdict)
			if p.Risk.Platform != nil {
				b.PlatformVerdict = string(p.Risk.Platform.Verdict)
			}
		}
		err := tx.QueryRow(ctx, `SELECT status, amount_captured, amount_refunded FROM payments WHERE id = $1 AND merchant_id = $2 FOR NO KEY UPDATE`,
			paymentID, merchantID).Scan(&b.Payment.Status, &b.Payment.AmountCaptured, &b.Payment.AmountRefunded)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("payment")
		}
		if err != nil {
			return wrap("lock payment", err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint FROM chargebacks WHERE payment_id = $1`, paymentID).
			Scan(&b.Charged); err != nil {
			return wrap("earlier chargebacks", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO guarantees (merchant_id) VALUES ($1) ON CONFLICT (merchant_id) DO NOTHING`, merchantID); err != nil {
			return wrap("guarantee row", err)
		}
		if b.Guarantee, err = guarantee(ctx, tx, merchantID, true); err != nil {
			return err
		}
		if b.Used, err = guaranteeUsed(ctx, tx, merchantID, year); err != nil {
			return err
		}
		var e checkout.WebhookEvent
		if cb, e, err = decide(b); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlstore.InsertChargeback,
			sqlstore.ChargebackValues(cb, ts(cb.OccurredAt), ts(cb.CreatedAt))...); err != nil {
			return wrap("store chargeback", err)
		}
		_, err = enqueueEvents(ctx, tx, dropUnsubscribed, e)
		return err
	})
	if err != nil {
		return checkout.Chargeback{}, err
	}
	return cb, nil
}

// guarantee reads the merchant's setting, locking its row when lock is
// set; Custom is false when there is none.
func guarantee(ctx context.Context, q querier, merchantID string, lock bool) (checkout.Guarantee, error) {
	query := `SELECT yearly_cap, currency, updated_at FROM guarantees WHERE merchant_id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	var g checkout.Guarantee
	var yearlyCap *int64
	var currency *string
	err := q.QueryRow(ctx, query, merchantID).Scan(&yearlyCap, &currency, sqlstore.TimeDest(&g.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Guarantee{}, nil
	}
	if err != nil {
		return checkout.Guarantee{}, wrap("guarantee", err)
	}
	if yearlyCap == nil || currency == nil {
		return checkout.Guarantee{}, nil
	}
	g.YearlyCap, g.Currency, g.Custom = *yearlyCap, *currency, true
	return g, nil
}

// guaranteeUsed sums what the guarantee covered in year, by currency;
// liability shifts are not the guarantee's to pay.
func guaranteeUsed(ctx context.Context, q querier, merchantID string, year int) (map[string]int64, error) {
	return coveredSum(ctx, q, merchantID, year, false)
}

// LiabilityShifted sums the chargebacks a 3-D Secure liability shift
// covered in year, by currency: the issuers', outside the cap.
func (db *DB) LiabilityShifted(ctx context.Context, merchantID string, year int) (map[string]int64, error) {
	return coveredSum(ctx, db.pool, merchantID, year, true)
}

// coveredSum sums the covered chargebacks of year, by currency: those a
// liability shift covered, or those the guarantee did.
func coveredSum(ctx context.Context, q querier, merchantID string, year int, shifted bool) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT coverage_currency, sum(covered_amount)::bigint FROM chargebacks
		WHERE merchant_id = $1 AND guarantee_year = $2 AND covered AND liability_shift = $3
		GROUP BY coverage_currency`, merchantID, year, shifted)
	if err != nil {
		return nil, wrap("guarantee used", err)
	}
	defer rows.Close()
	used := map[string]int64{}
	for rows.Next() {
		var currency string
		var sum int64
		if err := rows.Scan(&currency, &sum); err != nil {
			return nil, wrap("guarantee used", err)
		}
		used[currency] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("guarantee used", err)
	}
	return used, nil
}

// Chargeback returns one of the merchant's chargebacks; ENOTFOUND when
// missing or another merchant's.
func (db *DB) Chargeback(ctx context.Context, merchantID, id string) (checkout.Chargeback, error) {
	c, err := sqlstore.ScanChargeback(db.pool.QueryRow(ctx, `SELECT `+sqlstore.ChargebackColumns+` FROM chargebacks
		WHERE id = $1 AND merchant_id = $2`, id, merchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Chargeback{}, notFound("chargeback")
	}
	if err != nil {
		return checkout.Chargeback{}, wrap("chargeback", err)
	}
	return c, nil
}

// Chargebacks lists the merchant's chargebacks, newest first.
func (db *DB) Chargebacks(ctx context.Context, merchantID string, f checkout.ChargebackFilter) ([]checkout.Chargeback, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.ChargebackColumns+` FROM chargebacks
		WHERE merchant_id = $1 AND ($2 = '' OR payment_id = $2) AND ($3 = 0 OR guarantee_year = $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, merchantID, f.PaymentID, f.Year, f.Limit)
	if err != nil {
		return nil, wrap("chargebacks", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (checkout.Chargeback, error) { return sqlstore.ScanChargeback(row) })
	if err != nil {
		return nil, wrap("chargebacks", err)
	}
	if out == nil {
		out = []checkout.Chargeback{}
	}
	return out, nil
}

// Guarantee returns the merchant's guarantee and what it covered in year.
func (db *DB) Guarantee(ctx context.Context, merchantID string, year int) (checkout.Guarantee, map[string]int64, error) {
	g, err := guarantee(ctx, db.pool, merchantID, false)
	if err != nil {
		return checkout.Guarantee{}, nil, err
	}
	used, err := guaranteeUsed(ctx, db.pool, merchantID, year)
	if err != nil {
		return checkout.Guarantee{}, nil, err
	}
	return g, used, nil
}

// SetGuarantee stores the merchant's guarantee; ENOTFOUND when the
// merchant does not exist. It waits for a chargeback being decided under
// the row's lock, so a decision never mixes the old cap and the new.
func (db *DB) SetGuarantee(ctx context.Context, merchantID string, g checkout.Guarantee) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO guarantees (merchant_id, yearly_cap, currency, updated_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (merchant_id) DO UPDATE SET
			yearly_cap = excluded.yearly_cap, currency = excluded.currency, updated_at = excluded.updated_at`,
		merchantID, g.YearlyCap, g.Currency, ts(g.UpdatedAt))
	if code, _ := pgCode(err); code == foreignKeyViolation {
		return notFound("merchant")
	}
	if err != nil {
		return wrap("set guarantee", err)
	}
	return nil
}
