package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// CreateCustomer stores a new customer; ECONFLICT when the merchant has a
// live customer with the same reference.
func (db *DB) CreateCustomer(ctx context.Context, c checkout.Customer) error {
	_, err := db.exec(ctx, sqlstore.InsertCustomer, sqlstore.CustomerValues(c, unixNanos(c.CreatedAt))...)
	switch {
	case isForeignKey(err):
		return notFound("merchant")
	case isDuplicate(err):
		return &checkout.Error{Code: checkout.ECONFLICT, Field: "reference", Message: "a customer with this reference exists"}
	case err != nil:
		return fmt.Errorf("sqlite: create customer: %w", err)
	}
	return nil
}

// Customer returns a live customer; ENOTFOUND when missing or deleted.
func (db *DB) Customer(ctx context.Context, id string) (checkout.Customer, error) {
	return customer(ctx, db.r, id)
}

// customer reads a live customer with q (the readers, or the caller's
// write); ENOTFOUND when missing or deleted.
func customer(ctx context.Context, q querier, id string) (checkout.Customer, error) {
	c, err := sqlstore.ScanCustomer(q.QueryRowContext(ctx, sqlstore.CustomerQuery, id))
	if errors.Is(err, sql.ErrNoRows) {
		return checkout.Customer{}, notFound("customer")
	}
	if err != nil {
		return checkout.Customer{}, fmt.Errorf("sqlite: customer: %w", err)
	}
	return c, nil
}

// Customers returns a page of the merchant's live customers in id order.
func (db *DB) Customers(ctx context.Context, merchantID, after string, limit int) ([]checkout.Customer, error) {
	return readList(ctx, db, "customers", sqlstore.ScanCustomers, sqlstore.CustomersQuery(limit), merchantID, after)
}

// DeleteCustomer marks a live customer deleted and erases and deletes its
// saved cards, in one transaction.
func (db *DB) DeleteCustomer(ctx context.Context, id string, now time.Time) error {
	return db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, sqlstore.DeleteCustomer, id, unixNanos(now))
		if err != nil {
			return fmt.Errorf("sqlite: delete customer: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return orMissing(err, notFound("customer"))
		}
		if _, err := tx.ExecContext(ctx, sqlstore.EraseCustomerCards, unixNanos(now), id); err != nil {
			return fmt.Errorf("sqlite: erase saved cards: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlstore.DeleteCustomerCards, id); err != nil {
			return fmt.Errorf("sqlite: delete saved cards: %w", err)
		}
		return nil
	})
}

// SaveCard keeps a card for its customer, or updates the expiry of the
// customer's card with the same fingerprint.
func (db *DB) SaveCard(ctx context.Context, c checkout.SavedCard) (stored checkout.SavedCard, created bool, err error) {
	err = db.write(ctx, func(tx *writeTx) error {
		if _, err := customer(ctx, tx, c.CustomerID); err != nil {
			return err
		}
		s, err := sqlstore.ScanSavedCard(tx.QueryRowContext(ctx, sqlstore.UpsertSavedCard,
			sqlstore.SavedCardValues(c, unixNanos(c.Consent.At), unixNanos(c.CreatedAt), unixNanos(c.LastUsedAt))...))
		if err != nil {
			return fmt.Errorf("sqlite: save card: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlstore.MarkCardSaved, s.CardToken); err != nil {
			return fmt.Errorf("sqlite: save card: %w", err)
		}
		stored, created = s, s.ID == c.ID
		return nil
	})
	return stored, created, err
}

// SavedCards returns a customer's saved cards, the most recently used first.
func (db *DB) SavedCards(ctx context.Context, customerID string) ([]checkout.SavedCard, error) {
	return readList(ctx, db, "saved cards", sqlstore.ScanSavedCards, sqlstore.SavedCardsQuery, customerID)
}

// DeleteSavedCard erases and deletes one of a customer's saved cards, in
// one transaction.
func (db *DB) DeleteSavedCard(ctx context.Context, customerID, cardID string, now time.Time) error {
	return db.write(ctx, func(tx *writeTx) error {
		if _, err := tx.ExecContext(ctx, sqlstore.EraseSavedCard, unixNanos(now), customerID, cardID); err != nil {
			return fmt.Errorf("sqlite: erase saved card: %w", err)
		}
		res, err := tx.ExecContext(ctx, sqlstore.DeleteSavedCard, customerID, cardID)
		if err != nil {
			return fmt.Errorf("sqlite: delete saved card: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return orMissing(err, notFound("saved card"))
		}
		return nil
	})
}

// UseSavedCard sets a saved card's last use.
func (db *DB) UseSavedCard(ctx context.Context, cardID string, at time.Time) error {
	if _, err := db.exec(ctx, sqlstore.UseSavedCard, cardID, unixNanos(at)); err != nil {
		return fmt.Errorf("sqlite: use saved card: %w", err)
	}
	return nil
}

// orMissing is err, or missing when err is nil: a count of rows that could
// not be read is the error, a count of none is missing.
func orMissing(err, missing error) error {
	if err != nil {
		return err
	}
	return missing
}

// CardsByToken returns the saved cards kept under a vault token, with
// their merchants.
func (db *DB) CardsByToken(ctx context.Context, token string) ([]checkout.OwnedCard, error) {
	return readList(ctx, db, "cards by token", sqlstore.ScanOwnedCards, sqlstore.CardsByTokenQuery, token)
}

// UpdateCardExpiry sets a card's expiry in the vault and on its saved
// cards, and stores events, in one transaction.
func (db *DB) UpdateCardExpiry(ctx context.Context, token string, month, year int, events ...checkout.WebhookEvent) (n int, err error) {
	err = db.write(ctx, func(tx *writeTx) error {
		if _, err := tx.ExecContext(ctx, sqlstore.UpdateVaultCardExpiry, token, month, year); err != nil {
			return fmt.Errorf("sqlite: update card expiry: %w", err)
		}
		res, err := tx.ExecContext(ctx, sqlstore.UpdateSavedCardExpiry, token, month, year)
		if err != nil {
			return fmt.Errorf("sqlite: update saved cards' expiry: %w", err)
		}
		updated, err := res.RowsAffected()
		if err != nil {
			return err
		}
		n = int(updated)
		return enqueueEvents(ctx, tx, events)
	})
	return n, err
}
