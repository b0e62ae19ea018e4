package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// The vault's rows. Inserts never overwrite: replacing a wrapped data key or
// a card's ciphertext would make the data under it unreadable, so a
// duplicate id is an error. Missing rows are vault.ErrNotFound, wrapped.

// InsertDataKey stores a wrapped data key.
func (db *DB) InsertDataKey(ctx context.Context, k vault.DataKey) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO data_keys (id, wrapped, kek_id, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Wrapped, k.KEKID, ts(k.CreatedAt))
	if err != nil {
		return wrap("insert data key", err)
	}
	return nil
}

// DataKey returns one data key; vault.ErrNotFound when missing.
func (db *DB) DataKey(ctx context.Context, id string) (vault.DataKey, error) {
	var k vault.DataKey
	err := db.pool.QueryRow(ctx, `SELECT id, wrapped, kek_id, created_at FROM data_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Wrapped, &k.KEKID, sqlstore.TimeDest(&k.CreatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.DataKey{}, fmt.Errorf("postgres: data key: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.DataKey{}, wrap("data key", err)
	}
	return k, nil
}

// DataKeys returns up to limit data keys after afterID, in id (byte) order;
// a negative limit means no limit.
func (db *DB) DataKeys(ctx context.Context, afterID string, limit int) ([]vault.DataKey, error) {
	var lim *int // LIMIT NULL is no limit
	if limit >= 0 {
		lim = &limit
	}
	rows, err := db.pool.Query(ctx, `SELECT id, wrapped, kek_id, created_at FROM data_keys
		WHERE id > $1 ORDER BY id LIMIT $2`, afterID, lim)
	if err != nil {
		return nil, wrap("data keys", err)
	}
	defer rows.Close()
	var out []vault.DataKey
	for rows.Next() {
		var k vault.DataKey
		if err := rows.Scan(&k.ID, &k.Wrapped, &k.KEKID, sqlstore.TimeDest(&k.CreatedAt)); err != nil {
			return nil, wrap("data keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("data keys", err)
	}
	return out, nil
}

// UpdateDataKeyWrapped replaces a data key's wrapped form if it is still old,
// in one compare-and-swap UPDATE; vault.ErrConflict when it is not,
// vault.ErrNotFound when the key is missing.
func (db *DB) UpdateDataKeyWrapped(ctx context.Context, id string, old, wrapped []byte) error {
	// One round trip: the swap, and whether the key exists at all to tell a
	// lost swap from a missing key.
	var swapped, exists bool
	err := db.pool.QueryRow(ctx, `WITH swap AS (
			UPDATE data_keys SET wrapped = $3 WHERE id = $1 AND wrapped = $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM swap), EXISTS (SELECT 1 FROM data_keys WHERE id = $1)`,
		id, old, wrapped).Scan(&swapped, &exists)
	switch {
	case err != nil:
		return wrap("rewrap data key", err)
	case swapped:
		return nil
	case !exists:
		return fmt.Errorf("postgres: rewrap data key: %w", vault.ErrNotFound)
	}
	return fmt.Errorf("postgres: rewrap data key: %w", vault.ErrConflict)
}

// InsertCard stores a tokenized card; its data key must exist.
func (db *DB) InsertCard(ctx context.Context, c vault.StoredCard) error {
	// The schema refuses these too, but its refusal would quote the row,
	// number and all, in the server's log: refuse before sending it.
	if utf8.RuneCountInString(c.BIN) > 6 || utf8.RuneCountInString(c.Last4) > 4 {
		return errors.New("postgres: insert card: BIN or last 4 longer than PCI DSS 3.4.1 allows in the clear")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO cards
		(token, data_key_id, ciphertext, fingerprint, brand, bin, last4, exp_month, exp_year, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.Token, c.DataKeyID, c.Ciphertext, c.Fingerprint, c.Brand, c.BIN, c.Last4, c.ExpMonth, c.ExpYear,
		ts(c.CreatedAt))
	if err != nil {
		// The error names no value: none of the card reaches a log.
		return wrap("insert card", err)
	}
	return nil
}

// Card returns one tokenized card; vault.ErrNotFound when missing.
func (db *DB) Card(ctx context.Context, token string) (vault.StoredCard, error) {
	var c vault.StoredCard
	err := db.pool.QueryRow(ctx, `SELECT token, data_key_id, ciphertext, fingerprint, brand, bin, last4,
		exp_month, exp_year, created_at FROM cards WHERE token = $1`, token).
		Scan(&c.Token, &c.DataKeyID, &c.Ciphertext, &c.Fingerprint, &c.Brand, &c.BIN, &c.Last4,
			&c.ExpMonth, &c.ExpYear, sqlstore.TimeDest(&c.CreatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.StoredCard{}, fmt.Errorf("postgres: card: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.StoredCard{}, wrap("card", err)
	}
	return c, nil
}

// InsertSecret stores one of the vault's own keys, encrypted.
func (db *DB) InsertSecret(ctx context.Context, s vault.StoredSecret) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO vault_secrets
		(id, kind, data_key_id, ciphertext, public_key, created_at, active_from, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.ID, s.Kind, s.DataKeyID, s.Ciphertext, s.Public,
		ts(s.CreatedAt), ts(s.ActiveFrom), ts(s.RetiredAt))
	if err != nil {
		return wrap("insert secret", err)
	}
	return nil
}

// Secrets returns every secret of a kind, oldest first (ties by id).
func (db *DB) Secrets(ctx context.Context, kind string) ([]vault.StoredSecret, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, kind, data_key_id, ciphertext, public_key,
		created_at, active_from, retired_at FROM vault_secrets WHERE kind = $1 ORDER BY created_at, id`, kind)
	if err != nil {
		return nil, wrap("secrets", err)
	}
	defer rows.Close()
	var out []vault.StoredSecret
	for rows.Next() {
		var s vault.StoredSecret
		if err := rows.Scan(&s.ID, &s.Kind, &s.DataKeyID, &s.Ciphertext, &s.Public,
			sqlstore.TimeDest(&s.CreatedAt), sqlstore.TimeDest(&s.ActiveFrom), sqlstore.TimeDest(&s.RetiredAt)); err != nil {
			return nil, wrap("secrets", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("secrets", err)
	}
	return out, nil
}

// RetireSecret sets RetiredAt of one secret; vault.ErrNotFound when missing.
func (db *DB) RetireSecret(ctx context.Context, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE vault_secrets SET retired_at = $1 WHERE id = $2`, ts(at), id)
	if err != nil {
		return wrap("retire secret", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: retire secret: %w", vault.ErrNotFound)
	}
	return nil
}

// EraseUnneededCards erases up to limit cards nobody needs, oldest first;
// instances sweeping at once skip each other's locked cards.
func (db *DB) EraseUnneededCards(ctx context.Context, now, before time.Time, limit int) (int, error) {
	tag, err := db.pool.Exec(ctx, sqlstore.EraseUnneededCards(limit, "FOR UPDATE OF c SKIP LOCKED"), ts(now), ts(before))
	if err != nil {
		return 0, wrap("erase cards", err)
	}
	return int(tag.RowsAffected()), nil
}

// CardRetentionReport counts the vault's cards by state.
func (db *DB) CardRetentionReport(ctx context.Context, before time.Time) (r checkout.RetentionReport, err error) {
	err = db.pool.QueryRow(ctx, sqlstore.CardRetentionReport, ts(before)).
		Scan(&r.Erased, &r.Saved, &r.AwaitingCapture, &r.WithinPeriod, &r.Due)
	if err != nil {
		return checkout.RetentionReport{}, wrap("card retention", err)
	}
	return r, nil
}
