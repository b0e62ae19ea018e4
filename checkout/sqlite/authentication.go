package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

var _ checkout.AuthenticationStore = (*DB)(nil)

// CreateAuthentication stores a new authentication; ECONFLICT when its id
// is taken, ENOTFOUND when its session does not exist.
func (db *DB) CreateAuthentication(ctx context.Context, a checkout.Authentication) error {
	return db.write(ctx, func(tx *writeTx) error {
		_, err := tx.ExecContext(ctx, sqlstore.InsertAuthentication,
			sqlstore.AuthenticationValues(a, unixNanos(a.CreatedAt), unixNanos(a.ExpiresAt))...)
		switch {
		case isDuplicate(err):
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "an authentication with this id already exists"}
		case isForeignKey(err):
			return notFound("session")
		case err != nil:
			return fmt.Errorf("sqlite: create authentication: %w", err)
		}
		return nil
	})
}

// Authentication returns one; ENOTFOUND when missing.
func (db *DB) Authentication(ctx context.Context, id string) (checkout.Authentication, error) {
	return authentication(ctx, db.r, id)
}

func authentication(ctx context.Context, q querier, id string) (checkout.Authentication, error) {
	a, err := sqlstore.ScanAuthentication(q.QueryRowContext(ctx, `SELECT `+sqlstore.AuthenticationColumns+` FROM authentications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Authentication{}, notFound("authentication")
	}
	if err != nil {
		return checkout.Authentication{}, fmt.Errorf("sqlite: authentication: %w", err)
	}
	return a, nil
}

// UpdateAuthentication writes a's Status, ECI, Value, Failures and UsedBy
// in one conditional UPDATE: only while the stored one has status from and
// is unused. ECONFLICT otherwise, ENOTFOUND when missing.
func (db *DB) UpdateAuthentication(ctx context.Context, a checkout.Authentication, from checkout.ThreeDSStatus) error {
	return db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE authentications
			SET status = ?, eci = ?, value = ?, failures = ?, used_by = ?
			WHERE id = ? AND status = ? AND used_by = 0`,
			string(a.Status), a.ECI, a.Value, a.Failures, a.UsedBy, a.ID, string(from))
		if err != nil {
			return fmt.Errorf("sqlite: update authentication: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: update authentication: %w", err)
		}
		if n == 1 {
			return nil
		}
		// Not updated: missing, or moved on. The write lock is held, so
		// this read sees what refused the update.
		if _, err := authentication(ctx, tx, a.ID); err != nil {
			return err
		}
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "the authentication has changed"}
	})
}
