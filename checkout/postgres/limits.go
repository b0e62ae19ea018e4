package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.LimitStore = (*DB)(nil)

// MerchantLimits returns the merchant's card-testing limit layers, nil
// where it has none. It is read once per cache TTL per merchant and
// instance (risk.Limits), never per checkout.
func (db *DB) MerchantLimits(ctx context.Context, merchantID string) (operator, merchant []byte, err error) {
	rows, err := db.pool.Query(ctx, `SELECT layer, limits FROM merchant_limits WHERE merchant_id = $1`, merchantID)
	if err != nil {
		return nil, nil, wrap("merchant limits", err)
	}
	defer rows.Close()
	for rows.Next() {
		var layer string
		var limits []byte
		if err := rows.Scan(&layer, &limits); err != nil {
			return nil, nil, wrap("merchant limits", err)
		}
		switch layer {
		case risk.LayerOperator:
			operator = limits
		case risk.LayerMerchant:
			merchant = limits
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrap("merchant limits", err)
	}
	return operator, merchant, nil
}

// PutMerchantLimits replaces one layer and appends a, with the layer it
// replaced as a.Before, in one transaction. The merchant's row lock (as
// PutRiskSettings takes it) orders changes of one merchant's limits and
// settings from every instance and the operator's command.
func (db *DB) PutMerchantLimits(ctx context.Context, merchantID, layer string, limits []byte, a checkout.AuditEntry) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := merchantSetting(ctx, tx, merchantID, "risk_settings", true); err != nil { // ENOTFOUND for no merchant
			return err
		}
		return putLimits(ctx, tx, merchantID, layer, limits, a)
	})
}

// PutRiskSettingsAndLimits replaces the merchant's settings and its own
// layer of limits, appending both audit entries, in one transaction.
func (db *DB) PutRiskSettingsAndLimits(ctx context.Context, merchantID string, settings []byte, sa checkout.AuditEntry, limits []byte, la checkout.AuditEntry) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := putMerchantSetting(ctx, tx, merchantID, "risk_settings", settings, sa); err != nil {
			return err
		}
		return putLimits(ctx, tx, merchantID, risk.LayerMerchant, limits, la)
	})
}

// putLimits replaces (or, with nil limits, removes) a layer of a merchant
// whose row the transaction holds, and appends a with the layer it
// replaced.
func putLimits(ctx context.Context, tx pgx.Tx, merchantID, layer string, limits []byte, a checkout.AuditEntry) error {
	if layer != risk.LayerOperator && layer != risk.LayerMerchant {
		return fmt.Errorf("postgres: no limits layer %q", layer)
	}
	var before []byte
	err := tx.QueryRow(ctx, `SELECT limits FROM merchant_limits WHERE merchant_id = $1 AND layer = $2`, merchantID, layer).Scan(&before)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return wrap("put merchant limits", err)
	}
	if limits == nil {
		_, err = tx.Exec(ctx, `DELETE FROM merchant_limits WHERE merchant_id = $1 AND layer = $2`, merchantID, layer)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO merchant_limits (merchant_id, layer, limits, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (merchant_id, layer) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`,
			merchantID, layer, limits, ts(a.At))
	}
	if err != nil {
		return wrap("put merchant limits", err)
	}
	a.Before = before
	return insertAudit(ctx, tx, a)
}
