package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// The vault's rows. Inserts never overwrite: replacing a wrapped data key or
// a card's ciphertext would make the data under it unreadable, so a
// duplicate id is an error. Missing rows are vault.ErrNotFound, wrapped.

// InsertDataKey stores a wrapped data key.
func (db *DB) InsertDataKey(ctx context.Context, k vault.DataKey) error {
	_, err := db.exec(ctx, `INSERT INTO data_keys (id, wrapped, kek_id, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Wrapped, k.KEKID, unixNanos(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert data key: %w", err)
	}
	return nil
}

// DataKey returns one data key; vault.ErrNotFound when missing.
func (db *DB) DataKey(ctx context.Context, id string) (vault.DataKey, error) {
	var k vault.DataKey
	err := db.r.QueryRowContext(ctx, `SELECT id, wrapped, kek_id, created_at FROM data_keys WHERE id = ?`, id).
		Scan(&k.ID, &k.Wrapped, &k.KEKID, sqlstore.TimeDest(&k.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return vault.DataKey{}, fmt.Errorf("sqlite: data key: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.DataKey{}, fmt.Errorf("sqlite: data key: %w", err)
	}
	return k, nil
}

// DataKeys returns up to limit data keys after afterID, in id order.
func (db *DB) DataKeys(ctx context.Context, afterID string, limit int) ([]vault.DataKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, wrapped, kek_id, created_at FROM data_keys
		WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: data keys: %w", err)
	}
	defer rows.Close()
	var out []vault.DataKey
	for rows.Next() {
		var k vault.DataKey
		if err := rows.Scan(&k.ID, &k.Wrapped, &k.KEKID, sqlstore.TimeDest(&k.CreatedAt)); err != nil {
			return nil, fmt.Errorf("sqlite: data keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: data keys: %w", err)
	}
	return out, nil
}

// UpdateDataKeyWrapped replaces a data key's wrapped form if it is still old.
func (db *DB) UpdateDataKeyWrapped(ctx context.Context, id string, old, wrapped []byte) error {
	res, err := db.exec(ctx, `UPDATE data_keys SET wrapped = ? WHERE id = ? AND wrapped = ?`, wrapped, id, old)
	if err != nil {
		return fmt.Errorf("sqlite: rewrap data key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := db.DataKey(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: rewrap data key: %w", vault.ErrConflict)
}

// InsertCard stores a tokenized card; its data key must exist.
func (db *DB) InsertCard(ctx context.Context, c vault.StoredCard) error {
	_, err := db.exec(ctx, `INSERT INTO cards
		(token, data_key_id, ciphertext, fingerprint, brand, bin, last4, exp_month, exp_year, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Token, c.DataKeyID, c.Ciphertext, c.Fingerprint, c.Brand, c.BIN, c.Last4, c.ExpMonth, c.ExpYear,
		unixNanos(c.CreatedAt))
	if err != nil {
		// The error names no value: none of the card reaches a log.
		return fmt.Errorf("sqlite: insert card: %w", err)
	}
	return nil
}

// Card returns one tokenized card; vault.ErrNotFound when missing.
func (db *DB) Card(ctx context.Context, token string) (vault.StoredCard, error) {
	var c vault.StoredCard
	err := db.r.QueryRowContext(ctx, `SELECT token, data_key_id, ciphertext, fingerprint, brand, bin, last4,
		exp_month, exp_year, created_at FROM cards WHERE token = ?`, token).
		Scan(&c.Token, &c.DataKeyID, &c.Ciphertext, &c.Fingerprint, &c.Brand, &c.BIN, &c.Last4,
			&c.ExpMonth, &c.ExpYear, sqlstore.TimeDest(&c.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return vault.StoredCard{}, fmt.Errorf("sqlite: card: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.StoredCard{}, fmt.Errorf("sqlite: card: %w", err)
	}
	return c, nil
}

// InsertSecret stores one of the vault's own keys, encrypted.
func (db *DB) InsertSecret(ctx context.Context, s vault.StoredSecret) error {
	_, err := db.exec(ctx, `INSERT INTO vault_secrets
		(id, kind, data_key_id, ciphertext, public_key, created_at, active_from, retired_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Kind, s.DataKeyID, s.Ciphertext, s.Public,
		unixNanos(s.CreatedAt), unixNanos(s.ActiveFrom), unixNanos(s.RetiredAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert secret: %w", err)
	}
	return nil
}

// Secrets returns every secret of a kind, oldest first (ties by id).
func (db *DB) Secrets(ctx context.Context, kind string) ([]vault.StoredSecret, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, kind, data_key_id, ciphertext, public_key,
		created_at, active_from, retired_at FROM vault_secrets WHERE kind = ? ORDER BY created_at, id`, kind)
	if err != nil {
		return nil, fmt.Errorf("sqlite: secrets: %w", err)
	}
	defer rows.Close()
	var out []vault.StoredSecret
	for rows.Next() {
		var s vault.StoredSecret
		if err := rows.Scan(&s.ID, &s.Kind, &s.DataKeyID, &s.Ciphertext, &s.Public,
			sqlstore.TimeDest(&s.CreatedAt), sqlstore.TimeDest(&s.ActiveFrom), sqlstore.TimeDest(&s.RetiredAt)); err != nil {
			return nil, fmt.Errorf("sqlite: secrets: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: secrets: %w", err)
	}
	return out, nil
}

// RetireSecret sets RetiredAt of one secret; vault.ErrNotFound when missing.
func (db *DB) RetireSecret(ctx context.Context, id string, at time.Time) error {
	res, err := db.exec(ctx, `UPDATE vault_secrets SET retired_at = ? WHERE id = ?`, unixNanos(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: retire secret: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: retire secret: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: retire secret: %w", vault.ErrNotFound)
	}
	return nil
}

// EraseUnneededCards erases up to limit cards nobody needs, oldest first.
func (db *DB) EraseUnneededCards(ctx context.Context, now, before time.Time, limit int) (int, error) {
	res, err := db.exec(ctx, sqlstore.EraseUnneededCards(limit, ""), unixNanos(now), unixNanos(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: erase cards: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CardRetentionReport counts the vault's cards by state.
func (db *DB) CardRetentionReport(ctx context.Context, before time.Time) (r checkout.RetentionReport, err error) {
	err = db.r.QueryRowContext(ctx, sqlstore.CardRetentionReport, unixNanos(before)).
		Scan(&r.Erased, &r.Saved, &r.AwaitingCapture, &r.WithinPeriod, &r.Due)
	if err != nil {
		return checkout.RetentionReport{}, fmt.Errorf("sqlite: card retention: %w", err)
	}
	return r, nil
}
