package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
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
	return db.merchant(ctx, `api_key_hash = ?`, hash)
}

// Merchant returns one merchant; ENOTFOUND when missing.
func (db *DB) Merchant(ctx context.Context, id string) (checkout.Merchant, error) {
	return db.merchant(ctx, `id = ?`, id)
}

func (db *DB) merchant(ctx context.Context, where string, arg any) (checkout.Merchant, error) {
	var m checkout.Merchant
	err := db.r.QueryRowContext(ctx,
		`SELECT id, name, api_key_hash, created_at FROM merchants WHERE `+where, arg).
		Scan(&m.ID, &m.Name, &m.APIKeyHash, timeDest{&m.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Merchant{}, notFound("merchant")
	}
	if err != nil {
		return checkout.Merchant{}, fmt.Errorf("sqlite: merchant: %w", err)
	}
	// Origins are written with the merchant in one transaction and never
	// change, so a second query cannot see a half-made merchant.
	rows, err := db.r.QueryContext(ctx,
		`SELECT scheme, host, port FROM merchant_origins WHERE merchant_id = ? ORDER BY position`, m.ID)
	if err != nil {
		return checkout.Merchant{}, fmt.Errorf("sqlite: merchant origins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o checkout.Origin
		if err := rows.Scan(&o.Scheme, &o.Host, &o.Port); err != nil {
			return checkout.Merchant{}, fmt.Errorf("sqlite: merchant origins: %w", err)
		}
		m.Origins = append(m.Origins, o)
	}
	if err := rows.Err(); err != nil {
		return checkout.Merchant{}, fmt.Errorf("sqlite: merchant origins: %w", err)
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
