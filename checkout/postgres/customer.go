package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
)

// CreateCustomer stores a new customer; ECONFLICT when the merchant has a
// live customer with the same reference.
func (db *DB) CreateCustomer(ctx context.Context, c checkout.Customer) error {
	_, err := db.pool.Exec(ctx, sqlstore.InsertCustomer, sqlstore.CustomerValues(c, ts(c.CreatedAt))...)
	switch code, _ := pgCode(err); {
	case code == foreignKeyViolation:
		return notFound("merchant")
	case code == uniqueViolation:
		return &checkout.Error{Code: checkout.ECONFLICT, Field: "reference", Message: "a customer with this reference exists"}
	case err != nil:
		return wrap("create customer", err)
	}
	return nil
}

// Customer returns a live customer; ENOTFOUND when missing or deleted.
func (db *DB) Customer(ctx context.Context, id string) (checkout.Customer, error) {
	return scanCustomer(db.pool.QueryRow(ctx, sqlstore.CustomerQuery, id))
}

// scanCustomer reads a row of sqlstore.CustomerColumns; ENOTFOUND for none.
func scanCustomer(row pgx.Row) (checkout.Customer, error) {
	c, err := sqlstore.ScanCustomer(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return checkout.Customer{}, notFound("customer")
	}
	if err != nil {
		return checkout.Customer{}, wrap("customer", err)
	}
	return c, nil
}

// Customers returns a page of the merchant's live customers in id order.
func (db *DB) Customers(ctx context.Context, merchantID, after string, limit int) ([]checkout.Customer, error) {
	return readList(ctx, db.pool, "customers", sqlstore.ScanCustomers, sqlstore.CustomersQuery(limit), merchantID, after)
}

// DeleteCustomer marks a live customer deleted and erases and deletes its
// saved cards, in one transaction.
func (db *DB) DeleteCustomer(ctx context.Context, id string, now time.Time) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlstore.DeleteCustomer, id, ts(now))
		if err != nil {
			return wrap("delete customer", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("customer")
		}
		if _, err := tx.Exec(ctx, sqlstore.EraseCustomerCards, ts(now), id); err != nil {
			return wrap("erase saved cards", err)
		}
		if _, err := tx.Exec(ctx, sqlstore.DeleteCustomerCards, id); err != nil {
			return wrap("delete saved cards", err)
		}
		return nil
	})
}

// SaveCard keeps a card for its customer, or updates the expiry of the
// customer's card with the same fingerprint. The customer's row is locked
// first, so that a deletion running at once either comes first (and the
// card is refused) or waits.
func (db *DB) SaveCard(ctx context.Context, c checkout.SavedCard) (stored checkout.SavedCard, created bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := scanCustomer(tx.QueryRow(ctx, sqlstore.CustomerQuery+` FOR UPDATE`, c.CustomerID)); err != nil {
			return err
		}
		s, err := sqlstore.ScanSavedCard(tx.QueryRow(ctx, sqlstore.UpsertSavedCard,
			sqlstore.SavedCardValues(c, ts(c.Consent.At), ts(c.CreatedAt), ts(c.LastUsedAt))...))
		if err != nil {
			return wrap("save card", err)
		}
		if _, err := tx.Exec(ctx, sqlstore.MarkCardSaved, s.CardToken); err != nil {
			return wrap("save card", err)
		}
		stored, created = s, s.ID == c.ID
		return nil
	})
	return stored, created, err
}

// SavedCards returns a customer's saved cards, the most recently used first.
func (db *DB) SavedCards(ctx context.Context, customerID string) ([]checkout.SavedCard, error) {
	return readList(ctx, db.pool, "saved cards", sqlstore.ScanSavedCards, sqlstore.SavedCardsQuery, customerID)
}

// DeleteSavedCard erases and deletes one of a customer's saved cards, in
// one transaction.
func (db *DB) DeleteSavedCard(ctx context.Context, customerID, cardID string, now time.Time) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlstore.EraseSavedCard, ts(now), customerID, cardID); err != nil {
			return wrap("erase saved card", err)
		}
		tag, err := tx.Exec(ctx, sqlstore.DeleteSavedCard, customerID, cardID)
		if err != nil {
			return wrap("delete saved card", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("saved card")
		}
		return nil
	})
}

// UseSavedCard sets a saved card's last use.
func (db *DB) UseSavedCard(ctx context.Context, cardID string, at time.Time) error {
	if _, err := db.pool.Exec(ctx, sqlstore.UseSavedCard, cardID, ts(at)); err != nil {
		return wrap("use saved card", err)
	}
	return nil
}

// CardsByToken returns the saved cards kept under a vault token, with
// their merchants.
func (db *DB) CardsByToken(ctx context.Context, token string) ([]checkout.OwnedCard, error) {
	return readList(ctx, db.pool, "cards by token", sqlstore.ScanOwnedCards, sqlstore.CardsByTokenQuery, token)
}

// UpdateCardExpiry sets a card's expiry in the vault and on its saved
// cards, and stores events, in one transaction.
func (db *DB) UpdateCardExpiry(ctx context.Context, token string, month, year int, events ...checkout.WebhookEvent) (n int, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlstore.UpdateVaultCardExpiry, token, month, year); err != nil {
			return wrap("update card expiry", err)
		}
		tag, err := tx.Exec(ctx, sqlstore.UpdateSavedCardExpiry, token, month, year)
		if err != nil {
			return wrap("update saved cards' expiry", err)
		}
		n = int(tag.RowsAffected())
		_, err = enqueueEvents(ctx, tx, dropUnsubscribed, events...)
		return err
	})
	return n, err
}
