package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var (
	_ risk.Counters      = (*DB)(nil)
	_ risk.Lists         = (*DB)(nil)
	_ risk.SettingsStore = (*DB)(nil)
	_ risk.ListStore     = (*DB)(nil)
	_ risk.AuditLog      = (*DB)(nil)
)

// Match returns the keys on the merchant's lists or the platform's, in one
// indexed query.
func (db *DB) Match(ctx context.Context, merchantID string, keys []risk.ListKey) ([]risk.ListMatch, error) {
	return match(ctx, db.r, merchantID, keys)
}

func match(ctx context.Context, q querier, merchantID string, keys []risk.ListKey) ([]risk.ListMatch, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2+2*len(keys))
	args = append(args, merchantID)
	for _, k := range keys {
		args = append(args, string(k.Kind), k.Value)
	}
	values := strings.Repeat(", (?, ?)", len(keys))[2:]
	rows, err := q.QueryContext(ctx, `SELECT merchant_id, kind, value FROM risk_lists
		WHERE merchant_id IN (?, '') AND (kind, value) IN (VALUES `+values+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: match blocklists: %w", err)
	}
	defer rows.Close()
	var out []risk.ListMatch
	for rows.Next() {
		var m risk.ListMatch
		var owner string
		if err := rows.Scan(&owner, (*string)(&m.Kind), &m.Value); err != nil {
			return nil, fmt.Errorf("sqlite: match blocklists: %w", err)
		}
		m.Platform = owner == ""
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: match blocklists: %w", err)
	}
	return out, nil
}

// RiskSettings returns the merchant's settings JSON, nil when it has none;
// ENOTFOUND when the merchant does not exist.
func (db *DB) RiskSettings(ctx context.Context, merchantID string) ([]byte, error) {
	return merchantSetting(ctx, db.r, merchantID, "risk_settings")
}

// PutRiskSettings replaces the merchant's settings and appends a, with the
// settings it replaced as a.Before, in one transaction.
func (db *DB) PutRiskSettings(ctx context.Context, merchantID string, settings []byte, a checkout.AuditEntry) error {
	return db.write(ctx, func(tx *writeTx) error { return putMerchantSetting(ctx, tx, merchantID, "risk_settings", settings, a) })
}

// ListEntries returns a page of the merchant's entries, by kind then value.
func (db *DB) ListEntries(ctx context.Context, merchantID string, kind risk.ListKind, after risk.ListKey, limit int) ([]risk.ListEntry, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kind, value, created_at FROM risk_lists
		WHERE merchant_id = ? AND (? = '' OR kind = ?) AND (kind, value) > (?, ?)
		ORDER BY kind, value LIMIT ?`,
		merchantID, string(kind), string(kind), string(after.Kind), after.Value, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list entries: %w", err)
	}
	defer rows.Close()
	var out []risk.ListEntry
	for rows.Next() {
		var e risk.ListEntry
		if err := rows.Scan((*string)(&e.Kind), &e.Value, sqlstore.TimeDest(&e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("sqlite: list entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list entries: %w", err)
	}
	return out, nil
}

// AddListEntry puts e on the merchant's list and appends a, in one
// transaction; an entry already there is answered as stored, unaudited.
func (db *DB) AddListEntry(ctx context.Context, merchantID string, e risk.ListEntry, a checkout.AuditEntry) (risk.ListEntry, bool, error) {
	stored, created := e, false
	err := db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO risk_lists (merchant_id, kind, value, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (merchant_id, kind, value) DO NOTHING`,
			merchantID, string(e.Kind), e.Value, unixNanos(e.CreatedAt))
		if err != nil {
			return fmt.Errorf("sqlite: add list entry: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: add list entry: %w", err)
		}
		if n == 0 {
			return tx.QueryRowContext(ctx, `SELECT created_at FROM risk_lists WHERE merchant_id = ? AND kind = ? AND value = ?`,
				merchantID, string(e.Kind), e.Value).Scan(sqlstore.TimeDest(&stored.CreatedAt))
		}
		created = true
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return risk.ListEntry{}, false, err
	}
	stored.CreatedAt = stored.CreatedAt.UTC()
	return stored, created, nil
}

// RemoveListEntry takes k off the merchant's list and appends a, in one
// transaction; ENOTFOUND when k is not on it.
func (db *DB) RemoveListEntry(ctx context.Context, merchantID string, k risk.ListKey, a checkout.AuditEntry) error {
	return db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM risk_lists WHERE merchant_id = ? AND kind = ? AND value = ?`,
			merchantID, string(k.Kind), k.Value)
		if err != nil {
			return fmt.Errorf("sqlite: remove list entry: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(notFound("list entry"), err)
		}
		return insertAudit(ctx, tx, a)
	})
}

func insertAudit(ctx context.Context, tx *writeTx, a checkout.AuditEntry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, merchant_id, actor, action, before_state, after_state, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.MerchantID, a.Actor, a.Action, nullJSON(a.Before), nullJSON(a.After), unixNanos(a.At))
	if err != nil {
		return fmt.Errorf("sqlite: append audit entry: %w", err)
	}
	return nil
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// AuditEntries returns a page of the merchant's audit log, newest first.
func (db *DB) AuditEntries(ctx context.Context, merchantID, before string, limit int) ([]checkout.AuditEntry, error) {
	cursor := int64(math.MaxInt64)
	if before != "" {
		err := db.r.QueryRowContext(ctx, `SELECT seq FROM audit_log WHERE id = ? AND merchant_id = ?`, before, merchantID).Scan(&cursor)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("audit entry")
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit entries: %w", err)
		}
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, merchant_id, actor, action, before_state, after_state, at
		FROM audit_log WHERE merchant_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, merchantID, cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit entries: %w", err)
	}
	defer rows.Close()
	var out []checkout.AuditEntry
	for rows.Next() {
		var a checkout.AuditEntry
		var before, after sql.NullString
		if err := rows.Scan(&a.ID, &a.MerchantID, &a.Actor, &a.Action, &before, &after, sqlstore.TimeDest(&a.At)); err != nil {
			return nil, fmt.Errorf("sqlite: audit entries: %w", err)
		}
		if before.Valid {
			a.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			a.After = json.RawMessage(after.String)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit entries: %w", err)
	}
	return out, nil
}
