package sqlstore

import (
	"database/sql"
	"strconv"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// CustomerColumns are a customer's, as ScanCustomer reads them.
const CustomerColumns = `id, merchant_id, reference, email, name, created_at`

// CustomerValues are c's values of CustomerColumns; created is its time as
// the store's dialect writes it. No reference is NULL (references are
// unique per merchant only where there is one).
func CustomerValues(c checkout.Customer, created any) []any {
	return []any{c.ID, c.MerchantID, nullable(c.Reference), c.Email, c.Name, created}
}

// InsertCustomer stores a customer's CustomerValues.
var InsertCustomer = `INSERT INTO customers (` + CustomerColumns + `) VALUES (` + Placeholders(6) + `)`

// CustomerQuery reads a live customer by id ($1).
var CustomerQuery = `SELECT ` + CustomerColumns + ` FROM customers WHERE id = $1 AND deleted_at IS NULL`

// CustomersQuery reads up to limit of a merchant's ($1) live customers
// after an id ($2), in id order. The limit is written into the text:
// SQLite plans a LIMIT by its bound value.
func CustomersQuery(limit int) string {
	return `SELECT ` + CustomerColumns + ` FROM customers
		WHERE merchant_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT ` + strconv.Itoa(limit)
}

// ScanCustomer reads a row of CustomerColumns.
func ScanCustomer(row Row) (checkout.Customer, error) {
	var c checkout.Customer
	var reference sql.NullString
	if err := row.Scan(&c.ID, &c.MerchantID, &reference, &c.Email, &c.Name, TimeDest(&c.CreatedAt)); err != nil {
		return checkout.Customer{}, err
	}
	c.Reference = reference.String
	return c, nil
}

// ScanCustomers reads rows of CustomerColumns.
func ScanCustomers(rows Rows) ([]checkout.Customer, error) {
	var out []checkout.Customer
	for rows.Next() {
		c, err := ScanCustomer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCustomer marks a live customer ($1) deleted at $2.
const DeleteCustomer = `UPDATE customers SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL`

// SavedCardColumns are a saved card's, as ScanSavedCard reads them.
const SavedCardColumns = `id, customer_id, card_token, fingerprint, brand, last4, exp_month, exp_year,
	consent_text, consent_locale, consent_at, created_at, last_used_at, initial_payment_id`

// SavedCardValues are c's values of SavedCardColumns; consent, created
// and lastUsed are its times as the store's dialect writes them (the zero
// time as NULL).
func SavedCardValues(c checkout.SavedCard, consent, created, lastUsed any) []any {
	return []any{c.ID, c.CustomerID, c.CardToken, c.Fingerprint, string(c.Brand), c.Last4, c.ExpMonth, c.ExpYear,
		c.Consent.Text, c.Consent.Locale, consent, created, lastUsed, nullable(c.InitialPaymentID)}
}

// UpsertSavedCard stores a saved card's SavedCardValues; the customer's
// card of the same fingerprint, if there is one, takes the new expiry and
// stays as it was otherwise. It answers the card as stored.
var UpsertSavedCard = `INSERT INTO saved_cards (` + SavedCardColumns + `) VALUES (` + Placeholders(14) + `)
	ON CONFLICT (customer_id, fingerprint) DO UPDATE SET exp_month = excluded.exp_month, exp_year = excluded.exp_year
	RETURNING ` + SavedCardColumns

// CardsByTokenQuery reads the saved cards kept under a vault token ($1),
// each with its customer's merchant (the last column).
var CardsByTokenQuery = `SELECT ` + Qualified("s", SavedCardColumns) + `, c.merchant_id
	FROM saved_cards s JOIN customers c ON c.id = s.customer_id WHERE s.card_token = $1 ORDER BY s.id`

// ScanOwnedCards reads rows of CardsByTokenQuery.
func ScanOwnedCards(rows Rows) ([]checkout.OwnedCard, error) {
	var out []checkout.OwnedCard
	for rows.Next() {
		var o checkout.OwnedCard
		var err error
		if o.SavedCard, err = ScanSavedCard(merchantColumn{rows, &o.MerchantID}); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// merchantColumn scans a row of SavedCardColumns and one more column, the
// merchant id, as ScanSavedCard's Row.
type merchantColumn struct {
	Row
	merchantID *string
}

func (m merchantColumn) Scan(dest ...any) error { return m.Row.Scan(append(dest, m.merchantID)...) }

// Updating a card's expiry (account updater): the vault's card ($1) and
// the saved cards kept under it take month $2 and year $3.
const (
	UpdateVaultCardExpiry = `UPDATE cards SET exp_month = $2, exp_year = $3 WHERE token = $1`
	UpdateSavedCardExpiry = `UPDATE saved_cards SET exp_month = $2, exp_year = $3 WHERE card_token = $1`
)

// MarkCardSaved marks the vault's card ($1) as a saved card's, in the
// transaction that saves it: the retention sweep's index leaves it out.
const MarkCardSaved = `UPDATE cards SET saved = TRUE WHERE token = $1`

// SavedCardsQuery reads a customer's ($1) saved cards, the most recently
// used (or saved) first.
var SavedCardsQuery = `SELECT ` + SavedCardColumns + ` FROM saved_cards WHERE customer_id = $1
	ORDER BY coalesce(last_used_at, created_at) DESC, id`

// UseSavedCard sets a saved card's ($1) last_used_at to $2.
const UseSavedCard = `UPDATE saved_cards SET last_used_at = $2 WHERE id = $1`

// ScanSavedCard reads a row of SavedCardColumns.
func ScanSavedCard(row Row) (checkout.SavedCard, error) {
	var c checkout.SavedCard
	var initial sql.NullString
	err := row.Scan(&c.ID, &c.CustomerID, &c.CardToken, &c.Fingerprint, (*string)(&c.Brand), &c.Last4, &c.ExpMonth, &c.ExpYear,
		&c.Consent.Text, &c.Consent.Locale, TimeDest(&c.Consent.At), TimeDest(&c.CreatedAt), TimeDest(&c.LastUsedAt), &initial)
	c.InitialPaymentID = initial.String
	return c, err
}

// ScanSavedCards reads rows of SavedCardColumns.
func ScanSavedCards(rows Rows) ([]checkout.SavedCard, error) {
	var out []checkout.SavedCard
	for rows.Next() {
		c, err := ScanSavedCard(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Erasing a saved card empties the vault's ciphertext of its number
// (substr(x, 1, 0) is an empty BLOB in SQLite and an empty bytea in
// PostgreSQL) and sets the card's erased_at, then deletes the saved card:
// the erase first, then the delete, in one transaction.
const (
	// EraseCustomerCards erases the numbers of a customer's ($2) saved
	// cards at $1.
	EraseCustomerCards = `UPDATE cards SET ciphertext = substr(ciphertext, 1, 0), erased_at = $1
		WHERE token IN (SELECT card_token FROM saved_cards WHERE customer_id = $2)`
	// DeleteCustomerCards deletes a customer's ($1) saved cards.
	DeleteCustomerCards = `DELETE FROM saved_cards WHERE customer_id = $1`
	// EraseSavedCard erases the number of a customer's ($2) saved card
	// ($3) at $1.
	EraseSavedCard = `UPDATE cards SET ciphertext = substr(ciphertext, 1, 0), erased_at = $1
		WHERE token IN (SELECT card_token FROM saved_cards WHERE customer_id = $2 AND id = $3)`
	// DeleteSavedCard deletes a customer's ($1) saved card ($2).
	DeleteSavedCard = `DELETE FROM saved_cards WHERE customer_id = $1 AND id = $2`
)
