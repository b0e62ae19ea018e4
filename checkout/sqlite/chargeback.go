package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var (
	_ checkout.ChargebackStore = (*DB)(nil)
	_ checkout.GuaranteeStore  = (*DB)(nil)
)

// CreateChargeback reads the basis, lets decide judge it, and stores the
// chargeback with its event and deliveries, in one write transaction. The
// transaction holds SQLite's write lock from its first statement, so no
// other chargeback (from this process or another on the file) can read the
// payment's earlier chargebacks or the year's used balance until this one
// commits: concurrent chargebacks can neither exceed the payment nor
// overspend the cap.
func (db *DB) CreateChargeback(ctx context.Context, merchantID, paymentID string, year int,
	decide func(checkout.ChargebackBasis) (checkout.Chargeback, checkout.WebhookEvent, error)) (checkout.Chargeback, error) {
	var cb checkout.Chargeback
	err := db.write(ctx, func(tx *writeTx) error {
		// Read through the reader pool: with the write lock held, the last
		// committed state it sees cannot change before this commits.
		p, err := db.Payment(ctx, paymentID)
		if checkout.ErrorCode(err) == checkout.ENOTFOUND || (err == nil && p.MerchantID != merchantID) {
			// Another merchant's payment is not confirmed to exist.
			return notFound("payment")
		}
		if err != nil {
			return err
		}
		b := checkout.ChargebackBasis{Payment: p}
		if p.Risk != nil {
			b.RiskVerdict = string(p.Risk.Verdict)
			if p.Risk.Platform != nil {
				b.PlatformVerdict = string(p.Risk.Platform.Verdict)
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(amount), 0) FROM chargebacks WHERE payment_id = ?`, paymentID).
			Scan(&b.Charged); err != nil {
			return fmt.Errorf("sqlite: earlier chargebacks: %w", err)
		}
		if b.Guarantee, err = guarantee(ctx, tx, merchantID); err != nil {
			return err
		}
		if b.Used, err = guaranteeUsed(ctx, tx, merchantID, year); err != nil {
			return err
		}
		var e checkout.WebhookEvent
		if cb, e, err = decide(b); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlstore.InsertChargeback,
			sqlstore.ChargebackValues(cb, unixNanos(cb.OccurredAt), unixNanos(cb.CreatedAt))...); err != nil {
			return fmt.Errorf("sqlite: store chargeback: %w", err)
		}
		return enqueueEvents(ctx, tx, []checkout.WebhookEvent{e})
	})
	if err != nil {
		return checkout.Chargeback{}, err
	}
	return cb, nil
}

// guarantee reads the merchant's setting; Custom is false when there is
// none.
func guarantee(ctx context.Context, q querier, merchantID string) (checkout.Guarantee, error) {
	var g checkout.Guarantee
	var yearlyCap sql.NullInt64
	var currency sql.NullString
	err := q.QueryRowContext(ctx, `SELECT yearly_cap, currency, updated_at FROM guarantees WHERE merchant_id = ?`, merchantID).
		Scan(&yearlyCap, &currency, sqlstore.TimeDest(&g.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Guarantee{}, nil
	}
	if err != nil {
		return checkout.Guarantee{}, fmt.Errorf("sqlite: guarantee: %w", err)
	}
	if !yearlyCap.Valid {
		return checkout.Guarantee{}, nil
	}
	g.YearlyCap, g.Currency, g.Custom = yearlyCap.Int64, currency.String, true
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
	return coveredSum(ctx, db.r, merchantID, year, true)
}

// coveredSum sums the covered chargebacks of year, by currency: those a
// liability shift covered, or those the guarantee did.
func coveredSum(ctx context.Context, q querier, merchantID string, year int, shifted bool) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT coverage_currency, sum(covered_amount) FROM chargebacks
		WHERE merchant_id = ? AND guarantee_year = ? AND covered = 1 AND liability_shift = ?
		GROUP BY coverage_currency`, merchantID, year, shifted)
	if err != nil {
		return nil, fmt.Errorf("sqlite: guarantee used: %w", err)
	}
	defer rows.Close()
	used := map[string]int64{}
	for rows.Next() {
		var currency string
		var sum int64
		if err := rows.Scan(&currency, &sum); err != nil {
			return nil, fmt.Errorf("sqlite: guarantee used: %w", err)
		}
		used[currency] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: guarantee used: %w", err)
	}
	return used, nil
}

// Chargeback returns one of the merchant's chargebacks; ENOTFOUND when
// missing or another merchant's.
func (db *DB) Chargeback(ctx context.Context, merchantID, id string) (checkout.Chargeback, error) {
	c, err := sqlstore.ScanChargeback(db.r.QueryRowContext(ctx, `SELECT `+sqlstore.ChargebackColumns+` FROM chargebacks
		WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Chargeback{}, notFound("chargeback")
	}
	if err != nil {
		return checkout.Chargeback{}, fmt.Errorf("sqlite: chargeback: %w", err)
	}
	return c, nil
}

// Chargebacks lists the merchant's chargebacks, newest first.
func (db *DB) Chargebacks(ctx context.Context, merchantID string, f checkout.ChargebackFilter) ([]checkout.Chargeback, error) {
	query := `SELECT ` + sqlstore.ChargebackColumns + ` FROM chargebacks WHERE merchant_id = ?`
	args := []any{merchantID}
	if f.PaymentID != "" {
		query += " AND payment_id = ?"
		args = append(args, f.PaymentID)
	}
	if f.Year != 0 {
		query += " AND guarantee_year = ?"
		args = append(args, f.Year)
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: chargebacks: %w", err)
	}
	defer rows.Close()
	out := []checkout.Chargeback{}
	for rows.Next() {
		c, err := sqlstore.ScanChargeback(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: chargebacks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: chargebacks: %w", err)
	}
	return out, nil
}

// Guarantee returns the merchant's guarantee and what it covered in year.
func (db *DB) Guarantee(ctx context.Context, merchantID string, year int) (checkout.Guarantee, map[string]int64, error) {
	g, err := guarantee(ctx, db.r, merchantID)
	if err != nil {
		return checkout.Guarantee{}, nil, err
	}
	used, err := guaranteeUsed(ctx, db.r, merchantID, year)
	if err != nil {
		return checkout.Guarantee{}, nil, err
	}
	return g, used, nil
}

// SetGuarantee stores the merchant's guarantee; ENOTFOUND when the
// merchant does not exist.
func (db *DB) SetGuarantee(ctx context.Context, merchantID string, g checkout.Guarantee) error {
	return db.write(ctx, func(tx *writeTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO guarantees (merchant_id, yearly_cap, currency, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET
				yearly_cap = excluded.yearly_cap, currency = excluded.currency, updated_at = excluded.updated_at`,
			merchantID, g.YearlyCap, g.Currency, unixNanos(g.UpdatedAt))
		if isForeignKey(err) {
			return notFound("merchant")
		}
		if err != nil {
			return fmt.Errorf("sqlite: set guarantee: %w", err)
		}
		return nil
	})
}
