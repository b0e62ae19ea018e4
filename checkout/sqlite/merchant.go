package sqlite

import (
	"context"
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
