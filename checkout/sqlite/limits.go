package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.LimitStore = (*DB)(nil)

// MerchantLimits returns the merchant's card-testing limit layers, nil
// where it has none. It is read once per cache TTL per merchant (risk.Limits),
// never per checkout.
func (db *DB) MerchantLimits(ctx context.Context, merchantID string) (operator, merchant []byte, err error) {
	rows, err := db.r.QueryContext(ctx, `SELECT layer, limits FROM merchant_limits WHERE merchant_id = ?`, merchantID)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: merchant limits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var layer, limits string
		if err := rows.Scan(&layer, &limits); err != nil {
			return nil, nil, fmt.Errorf("sqlite: merchant limits: %w", err)
		}
		switch layer {
		case risk.LayerOperator:
			operator = []byte(limits)
		case risk.LayerMerchant:
			merchant = []byte(limits)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlite: merchant limits: %w", err)
	}
	return operator, merchant, nil
}

// PutMerchantLimits replaces one layer and appends a, with the layer it
// replaced as a.Before, in one transaction.
func (db *DB) PutMerchantLimits(ctx context.Context, merchantID, layer string, limits []byte, a checkout.AuditEntry) error {
	return db.write(ctx, func(tx *writeTx) error {
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM merchants WHERE id = ?`, merchantID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("merchant")
		}
		if err != nil {
			return fmt.Errorf("sqlite: put merchant limits: %w", err)
		}
		return putLimits(ctx, tx, merchantID, layer, limits, a)
	})
}

// PutRiskSettingsAndLimits replaces the merchant's settings and its own
// layer of limits, appending both audit entries, in one transaction.
func (db *DB) PutRiskSettingsAndLimits(ctx context.Context, merchantID string, settings []byte, sa checkout.AuditEntry, limits []byte, la checkout.AuditEntry) error {
	return db.write(ctx, func(tx *writeTx) error {
		if err := putMerchantSetting(ctx, tx, merchantID, "risk_settings", settings, sa); err != nil {
			return err
		}
		return putLimits(ctx, tx, merchantID, risk.LayerMerchant, limits, la)
	})
}

// putLimits replaces (or, with nil limits, removes) a layer of a merchant
// known to exist, and appends a with the layer it replaced.
func putLimits(ctx context.Context, tx *writeTx, merchantID, layer string, limits []byte, a checkout.AuditEntry) error {
	if layer != risk.LayerOperator && layer != risk.LayerMerchant {
		return fmt.Errorf("sqlite: no limits layer %q", layer)
	}
	var before sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT limits FROM merchant_limits WHERE merchant_id = ? AND layer = ?`, merchantID, layer).Scan(&before)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: put merchant limits: %w", err)
	}
	if limits == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM merchant_limits WHERE merchant_id = ? AND layer = ?`, merchantID, layer)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO merchant_limits (merchant_id, layer, limits, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (merchant_id, layer) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`,
			merchantID, layer, string(limits), unixNanos(a.At))
	}
	if err != nil {
		return fmt.Errorf("sqlite: put merchant limits: %w", err)
	}
	a.Before = nil
	if before.Valid {
		a.Before = []byte(before.String)
	}
	return insertAudit(ctx, tx, a)
}
