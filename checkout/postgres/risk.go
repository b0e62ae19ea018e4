package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

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

// scanCounts reads countStatement's answer for want queries, and closes rows.
func scanCounts(rows pgx.Rows, want int) ([]int, error) {
	defer rows.Close()
	out := make([]int, want)
	seen := 0
	for rows.Next() {
		var i, n int
		if err := rows.Scan(&i, &n); err != nil {
			return nil, wrap("count risk events", err)
		}
		if i < 1 || i > len(out) {
			return nil, fmt.Errorf("postgres: count risk events: answer for query %d of %d", i, len(out))
		}
		out[i-1] = n
		seen++
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("count risk events", err)
	}
	if seen != want {
		return nil, fmt.Errorf("postgres: count risk events: %d answers for %d queries", seen, want)
	}
	return out, nil
}

// Match returns the keys on the merchant's lists or the platform's, in one
// indexed query.
func (db *DB) Match(ctx context.Context, merchantID string, keys []risk.ListKey) ([]risk.ListMatch, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sql, args := matchStatement(merchantID, keys)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("match blocklists", err)
	}
	return scanMatches(rows)
}

// matchStatement is the lookup of keys on the merchant's lists and the
// platform's.
func matchStatement(merchantID string, keys []risk.ListKey) (string, []any) {
	kinds := make([]string, len(keys))
	values := make([]string, len(keys))
	for i, k := range keys {
		kinds[i], values[i] = string(k.Kind), k.Value
	}
	return `SELECT l.merchant_id, l.kind, l.value
		FROM risk_lists l JOIN unnest($2::text[], $3::text[]) AS k(kind, value) ON l.kind = k.kind AND l.value = k.value
		WHERE l.merchant_id IN ($1, '')`, []any{merchantID, kinds, values}
}

func scanMatches(rows pgx.Rows) ([]risk.ListMatch, error) {
	defer rows.Close()
	var out []risk.ListMatch
	for rows.Next() {
		var m risk.ListMatch
		var owner string
		if err := rows.Scan(&owner, (*string)(&m.Kind), &m.Value); err != nil {
			return nil, wrap("match blocklists", err)
		}
		m.Platform = owner == ""
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("match blocklists", err)
	}
	return out, nil
}

// RiskSettings returns the merchant's settings JSON, nil when it has none;
// ENOTFOUND when the merchant does not exist.
func (db *DB) RiskSettings(ctx context.Context, merchantID string) ([]byte, error) {
	return merchantSetting(ctx, db.pool, merchantID, "risk_settings", false)
}

// PutRiskSettings replaces the merchant's settings and appends a, with the
// settings it replaced as a.Before, in one transaction. The merchant's row
// is locked first, so that of two updates from any instances each audits
// the other's settings as its before.
func (db *DB) PutRiskSettings(ctx context.Context, merchantID string, settings []byte, a checkout.AuditEntry) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return putMerchantSetting(ctx, tx, merchantID, "risk_settings", settings, a) })
}

// ListEntries returns a page of the merchant's entries, by kind then value.
func (db *DB) ListEntries(ctx context.Context, merchantID string, kind risk.ListKind, after risk.ListKey, limit int) ([]risk.ListEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT kind, value, created_at FROM risk_lists
		WHERE merchant_id = $1 AND ($2 = '' OR kind = $2) AND (kind, value) > ($3, $4)
		ORDER BY kind, value LIMIT $5`,
		merchantID, string(kind), string(after.Kind), after.Value, limit)
	if err != nil {
		return nil, wrap("list entries", err)
	}
	defer rows.Close()
	var out []risk.ListEntry
	for rows.Next() {
		var e risk.ListEntry
		if err := rows.Scan((*string)(&e.Kind), &e.Value, sqlstore.TimeDest(&e.CreatedAt)); err != nil {
			return nil, wrap("list entries", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list entries", err)
	}
	return out, nil
}

// AddListEntry puts e on the merchant's list and appends a, in one
// transaction; an entry already there is answered as stored, unaudited.
func (db *DB) AddListEntry(ctx context.Context, merchantID string, e risk.ListEntry, a checkout.AuditEntry) (risk.ListEntry, bool, error) {
	stored, created := e, false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO risk_lists (merchant_id, kind, value, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (merchant_id, kind, value) DO NOTHING`, merchantID, string(e.Kind), e.Value, ts(e.CreatedAt))
		if err != nil {
			return wrap("add list entry", err)
		}
		if tag.RowsAffected() == 0 {
			err := tx.QueryRow(ctx, `SELECT created_at FROM risk_lists WHERE merchant_id = $1 AND kind = $2 AND value = $3`,
				merchantID, string(e.Kind), e.Value).Scan(sqlstore.TimeDest(&stored.CreatedAt))
			if err != nil {
				return wrap("add list entry", err)
			}
			return nil
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM risk_lists WHERE merchant_id = $1 AND kind = $2 AND value = $3`,
			merchantID, string(k.Kind), k.Value)
		if err != nil {
			return wrap("remove list entry", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("list entry")
		}
		return insertAudit(ctx, tx, a)
	})
}

func insertAudit(ctx context.Context, tx pgx.Tx, a checkout.AuditEntry) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (id, merchant_id, actor, action, before_state, after_state, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.ID, a.MerchantID, a.Actor, a.Action, []byte(a.Before), []byte(a.After), ts(a.At))
	if err != nil {
		return wrap("append audit entry", err)
	}
	return nil
}

// AuditEntries returns a page of the merchant's audit log, newest first.
func (db *DB) AuditEntries(ctx context.Context, merchantID, before string, limit int) ([]checkout.AuditEntry, error) {
	cursor := int64(math.MaxInt64)
	if before != "" {
		err := db.pool.QueryRow(ctx, `SELECT seq FROM audit_log WHERE id = $1 AND merchant_id = $2`, before, merchantID).Scan(&cursor)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound("audit entry")
		}
		if err != nil {
			return nil, wrap("audit entries", err)
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT id, merchant_id, actor, action, before_state, after_state, at
		FROM audit_log WHERE merchant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, merchantID, cursor, limit)
	if err != nil {
		return nil, wrap("audit entries", err)
	}
	defer rows.Close()
	var out []checkout.AuditEntry
	for rows.Next() {
		var a checkout.AuditEntry
		var before, after []byte
		if err := rows.Scan(&a.ID, &a.MerchantID, &a.Actor, &a.Action, &before, &after, sqlstore.TimeDest(&a.At)); err != nil {
			return nil, wrap("audit entries", err)
		}
		a.Before, a.After = before, after
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit entries", err)
	}
	return out, nil
}
