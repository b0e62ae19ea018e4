package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// CreateMerchant stores a new merchant and its origins in one transaction;
// ECONFLICT when the id (or the API key hash) is taken.
func (db *DB) CreateMerchant(ctx context.Context, m checkout.Merchant) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO merchants (id, name, api_key_hash, created_at) VALUES ($1, $2, $3, $4)`,
			m.ID, m.Name, m.APIKeyHash, ts(m.CreatedAt))
		if err != nil {
			return err
		}
		for i, o := range m.Origins {
			_, err := tx.Exec(ctx,
				`INSERT INTO merchant_origins (merchant_id, position, scheme, host, port) VALUES ($1, $2, $3, $4, $5)`,
				m.ID, i, o.Scheme, o.Host, o.Port)
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch code, constraint := pgCode(err); {
	case code == uniqueViolation && constraint == "merchants_pkey":
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "a merchant with this id already exists"}
	case code == uniqueViolation:
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this API key is already in use"}
	case err != nil:
		return wrap("create merchant", err)
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

// merchant reads a merchant and its origins in one query (one round trip:
// MerchantByAPIKeyHash runs on every API request). Origins are written with
// the merchant in one transaction and never change.
func (db *DB) merchant(ctx context.Context, where string, arg any) (checkout.Merchant, error) {
	rows, err := db.pool.Query(ctx, sqlstore.MerchantQuery(where), arg)
	if err != nil {
		return checkout.Merchant{}, wrap("merchant", err)
	}
	defer rows.Close()
	m, found, err := sqlstore.ScanMerchant(rows)
	if err != nil {
		return checkout.Merchant{}, wrap("merchant", err)
	}
	if !found {
		return checkout.Merchant{}, notFound("merchant")
	}
	return m, nil
}

// SetMerchantAPIKeyHash replaces the key hash, so the old key stops working
// at once; ENOTFOUND when the merchant is missing.
func (db *DB) SetMerchantAPIKeyHash(ctx context.Context, merchantID string, hash []byte) error {
	tag, err := db.pool.Exec(ctx, `UPDATE merchants SET api_key_hash = $1 WHERE id = $2`, hash, merchantID)
	if code, _ := pgCode(err); code == uniqueViolation {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "this API key is already in use"}
	}
	if err != nil {
		return wrap("set merchant API key", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("merchant")
	}
	return nil
}

// A merchant's settings are jsonb columns of its row: risk_settings
// (risk.Settings) and payment_methods (checkout.PaymentMethodSettings),
// NULL until first saved. Each change is audited in the transaction that
// makes it.

// merchantSetting reads the merchant's settings column, locking its row
// when lock is set; nil when never saved, ENOTFOUND when the merchant
// does not exist.
func merchantSetting(ctx context.Context, q querier, merchantID, column string, lock bool) ([]byte, error) {
	query := `SELECT ` + column + ` FROM merchants WHERE id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	var s []byte
	err := q.QueryRow(ctx, query, merchantID).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("merchant")
	}
	if err != nil {
		return nil, wrap("merchant "+column, err)
	}
	return s, nil
}

// putMerchantSetting replaces the merchant's settings column with value
// and appends a, with the value it replaced as a.Before, inside the
// caller's transaction. The merchant's row is locked first, so that of
// two updates from any instances each audits the other's value as its
// before.
func putMerchantSetting(ctx context.Context, tx pgx.Tx, merchantID, column string, value []byte, a checkout.AuditEntry) error {
	before, err := merchantSetting(ctx, tx, merchantID, column, true)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE merchants SET `+column+` = $2 WHERE id = $1`, merchantID, value); err != nil {
		return wrap("put merchant "+column, err)
	}
	a.Before = before
	return insertAudit(ctx, tx, a)
}

// PutPaymentMethods replaces the merchant's payment methods and appends a,
// with the settings it replaced as a.Before, in one transaction.
func (db *DB) PutPaymentMethods(ctx context.Context, merchantID string, settings []byte, a checkout.AuditEntry) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return putMerchantSetting(ctx, tx, merchantID, "payment_methods", settings, a) })
}
