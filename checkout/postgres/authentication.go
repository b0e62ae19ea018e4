package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var _ checkout.AuthenticationStore = (*DB)(nil)

// CreateAuthentication stores a new authentication; ECONFLICT when its id
// is taken, ENOTFOUND when its session does not exist.
func (db *DB) CreateAuthentication(ctx context.Context, a checkout.Authentication) error {
	_, err := db.pool.Exec(ctx, sqlstore.InsertAuthentication,
		sqlstore.AuthenticationValues(a, ts(a.CreatedAt), ts(a.ExpiresAt))...)
	switch code, _ := pgCode(err); {
	case code == uniqueViolation:
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "an authentication with this id already exists"}
	case code == foreignKeyViolation:
		return notFound("session")
	case err != nil:
		return wrap("create authentication", err)
	}
	return nil
}

// Authentication returns one; ENOTFOUND when missing.
func (db *DB) Authentication(ctx context.Context, id string) (checkout.Authentication, error) {
	a, err := sqlstore.ScanAuthentication(db.pool.QueryRow(ctx, `SELECT `+sqlstore.AuthenticationColumns+` FROM authentications WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Authentication{}, notFound("authentication")
	}
	if err != nil {
		return checkout.Authentication{}, wrap("authentication", err)
	}
	return a, nil
}

// UpdateAuthentication writes a's Status, ECI, Value, Failures and UsedBy
// in one conditional UPDATE: only while the stored one has status from and
// is unused. Of several instances racing on one authentication, the first
// to lock the row writes it; the others re-check the condition against
// what it committed (READ COMMITTED) and are ECONFLICT. ENOTFOUND when
// missing.
func (db *DB) UpdateAuthentication(ctx context.Context, a checkout.Authentication, from checkout.ThreeDSStatus) error {
	tag, err := db.pool.Exec(ctx, `UPDATE authentications
		SET status = $3, eci = $4, value = $5, failures = $6, used_by = $7
		WHERE id = $1 AND status = $2 AND used_by = 0`,
		a.ID, string(from), string(a.Status), a.ECI, a.Value, a.Failures, a.UsedBy)
	if err != nil {
		return wrap("update authentication", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Not updated: missing, or moved on. Rows are never deleted, so one
	// that exists now existed at the UPDATE.
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM authentications WHERE id = $1)`, a.ID).Scan(&exists); err != nil {
		return wrap("update authentication", err)
	}
	if !exists {
		return notFound("authentication")
	}
	return &checkout.Error{Code: checkout.ECONFLICT, Message: "the authentication has changed"}
}
