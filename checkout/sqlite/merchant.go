package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// CreateMerchant stores a new merchant and its origins; ECONFLICT when the id
// (or the API key hash) is taken.
func (db *DB) CreateMerchant(ctx context.Context, m checkout.Merchant) error {
	err := db.write(ctx, func(tx *writeTx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO merchants (id, name, api_key_hash, created_at) VALUES (?, ?, ?, ?)`,
			m.ID, m.Name, m.APIKeyHash, unixNanos(m.CreatedAt))
		if err != nil {
			return err
		}
		for i, o := range m.Origins {
			_, err := tx.ExecContext(ctx,
				`INSERT INTO merchant_origins (merchant_id, position, scheme, host, port) VALUES (?, ?, ?, ?, ?)`,
				m.ID, i, o.Scheme, o.Host, o.Port)
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case isPrimaryKey(err):
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "a merchant with this id already exists"}
	case isDuplicate(err):
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this API key is already in use"}
	case err != nil:
		return fmt.Errorf("sqlite: create merchant: %w", err)
	}
	return nil
}

// MerchantByAPIKeyHash finds the merchant owning a key; ENOTFOUND when none does.
func (db *DB) MerchantByAPIKeyHash(ctx context.Context, hash []byte) (checkout.Merchant, error) {
	return db.merchant(ctx, `m.api_key_hash = $1`, hash)
}

// Merchant returns one merchant; ENOTFOUND when missing.
func (db *DB) Merchant(ctx context.Context, id string) (checkout.Merchant, error) {
	return db.merchant(ctx, `m.id = $1`, id)
}

// merchant reads a merchant and its origins in one query, as the
// PostgreSQL store does (MerchantByAPIKeyHash runs on every API request,
// Merchant on every page and payment). Origins are written with the
// merchant in one transaction and never change.
func (db *DB) merchant(ctx context.Context, where string, arg any) (checkout.Merchant, error) {
	rows, err := db.r.QueryContext(ctx, sqlstore.MerchantQuery(where), arg)
	if err != nil {
		return checkout.Merchant{}, fmt.Errorf("sqlite: merchant: %w", err)
	}
	defer rows.Close()
	m, found, err := sqlstore.ScanMerchant(rows)
	if err != nil {
		return checkout.Merchant{}, fmt.Errorf("sqlite: merchant: %w", err)
	}
	if !found {
		return checkout.Merchant{}, notFound("merchant")
	}
	return m, nil
}

// SetMerchantAPIKeyHash replaces the key hash, so the old key stops working
// at once; ENOTFOUND when the merchant is missing.
func (db *DB) SetMerchantAPIKeyHash(ctx context.Context, merchantID string, hash []byte) error {
	res, err := db.exec(ctx, `UPDATE merchants SET api_key_hash = ? WHERE id = ?`, hash, merchantID)
	if isDuplicate(err) {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this API key is already in use"}
	}
	if err != nil {
		return fmt.Errorf("sqlite: set merchant API key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: set merchant API key: %w", err)
	} else if n == 0 {
		return notFound("merchant")
	}
	return nil
}

// A merchant's settings are JSON columns of its row: risk_settings
// (risk.Settings) and payment_methods (checkout.PaymentMethodSettings),
// NULL until first saved. Each change is audited in the write that makes
// it.

// merchantSetting reads the merchant's settings column; nil when never
// saved, ENOTFOUND when the merchant does not exist.
func merchantSetting(ctx context.Context, q querier, merchantID, column string) ([]byte, error) {
	var s sql.NullString
	err := q.QueryRowContext(ctx, `SELECT `+column+` FROM merchants WHERE id = ?`, merchantID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("merchant")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: merchant %s: %w", column, err)
	}
	if !s.Valid {
		return nil, nil
	}
	return []byte(s.String), nil
}

// putMerchantSetting replaces the merchant's settings column with value
// and appends a, with the value it replaced as a.Before, inside the
// caller's write; ENOTFOUND when the merchant does not exist.
func putMerchantSetting(ctx context.Context, tx *writeTx, merchantID, column string, value []byte, a checkout.AuditEntry) error {
	before, err := merchantSetting(ctx, tx, merchantID, column)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE merchants SET `+column+` = ? WHERE id = ?`, string(value), merchantID); err != nil {
		return fmt.Errorf("sqlite: put merchant %s: %w", column, err)
	}
	a.Before = before
	return insertAudit(ctx, tx, a)
}

// PutPaymentMethods replaces the merchant's payment methods and appends a,
// with the settings it replaced as a.Before, in one transaction.
func (db *DB) PutPaymentMethods(ctx context.Context, merchantID string, settings []byte, a checkout.AuditEntry) error {
	return db.write(ctx, func(tx *writeTx) error {
		return putMerchantSetting(ctx, tx, merchantID, "payment_methods", settings, a)
	})
}
