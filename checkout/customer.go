package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hostedcheckout/hostedcheckout/vault"
)

// Customer is one of a merchant's shoppers, kept so that the cards they
// save can be used again (card on file). It holds no card data: its saved
// cards refer to the vault by token.
type Customer struct {
	ID         string // "cus_..."
	MerchantID string
	Reference  string // the merchant's own id for the customer; "" when none, unique per merchant otherwise
	Email      string
	Name       string
	CreatedAt  time.Time
}

// SavedCard is a card a customer agreed to keep for later payments. Of the
// card it shows no more than a payment does (brand, last 4, expiry,
// fingerprint); the number stays in the vault under CardToken.
type SavedCard struct {
	ID          string // "card_..."
	CustomerID  string
	CardToken   string
	Fingerprint string
	Brand       Brand
	Last4       string
	ExpMonth    int
	ExpYear     int
	// Consent is what the shopper agreed to when the card was saved, and
	// InitialPaymentID the payment in which they did: the customer-
	// initiated one that the merchant's later charges refer to.
	Consent          Consent
	InitialPaymentID string
	CreatedAt        time.Time
	LastUsedAt       time.Time // zero: not used since it was saved
}

// Consent is the shopper's agreement to keep a card: the words shown, in
// the language shown, and when they agreed.
type Consent struct {
	Text   string
	Locale string
	At     time.Time
}

// CustomerRequest is what a merchant sends to create a customer.
type CustomerRequest struct {
	Reference string `json:"reference"`
	Email     string `json:"email"`
	Name      string `json:"name"`
}

const maxCustomerName = 100

// Validate checks a customer request against docs/API.md.
func (r CustomerRequest) Validate() error {
	if r.Reference != "" && !orderIDPattern.MatchString(r.Reference) {
		return &Error{Code: EINVALID, Field: "reference", Message: "reference must be 1 to 64 characters of A-Z a-z 0-9 - _ . : /"}
	}
	if r.Email != "" && !validEmail(r.Email) {
		return &Error{Code: EINVALID, Field: "email", Message: "email must be an email address of at most 254 characters"}
	}
	if utf8.RuneCountInString(r.Name) > maxCustomerName || !printable(r.Name) || CardNumberShaped.MatchString(r.Name) {
		return &Error{Code: EINVALID, Field: "name", Message: fmt.Sprintf("name must be at most %d printable characters, and no card number", maxCustomerName)}
	}
	return nil
}

// CustomerStore keeps customers and their saved cards. A saved card's
// deletion, and a customer's, erases the card numbers they kept from the
// vault in the same transaction (PCI DSS 3.2.1: no number kept that nobody
// needs).
type CustomerStore interface {
	// CreateCustomer stores a new customer; ECONFLICT when the merchant
	// has a live customer with the same reference.
	CreateCustomer(ctx context.Context, c Customer) error
	// Customer returns a live customer; ENOTFOUND when missing or deleted.
	Customer(ctx context.Context, id string) (Customer, error)
	// Customers returns up to limit of the merchant's live customers whose
	// id sorts after after ("" from the start), in id order.
	Customers(ctx context.Context, merchantID, after string, limit int) ([]Customer, error)
	// DeleteCustomer deletes a live customer and its saved cards, erasing
	// their numbers from the vault; ENOTFOUND when missing or deleted.
	DeleteCustomer(ctx context.Context, id string, now time.Time) error
	// SaveCard keeps c for its customer. A card the customer has already
	// saved (the same fingerprint) is that saved card, with the expiry
	// updated: it returns the card as stored and whether it is new.
	// ENOTFOUND when the customer is missing or deleted.
	SaveCard(ctx context.Context, c SavedCard) (stored SavedCard, created bool, err error)
	// SavedCards returns the customer's saved cards, the most recently
	// used (or saved) first.
	SavedCards(ctx context.Context, customerID string) ([]SavedCard, error)
	// DeleteSavedCard deletes one of the customer's saved cards, erasing
	// its number from the vault; ENOTFOUND when it is not the customer's.
	DeleteSavedCard(ctx context.Context, customerID, cardID string, now time.Time) error
	// UseSavedCard sets a saved card's LastUsedAt; a card deleted meanwhile
	// is no error.
	UseSavedCard(ctx context.Context, cardID string, at time.Time) error
}

// CreateCustomer validates a merchant's request and stores the customer.
func (s *Service) CreateCustomer(ctx context.Context, m Merchant, req CustomerRequest) (Customer, error) {
	if err := req.Validate(); err != nil {
		return Customer{}, err
	}
	c := Customer{ID: NewID("cus"), MerchantID: m.ID, Reference: req.Reference, Email: req.Email, Name: req.Name, CreatedAt: s.now()}
	if err := s.Store.CreateCustomer(ctx, c); err != nil {
		return Customer{}, err
	}
	return c, nil
}

// Customer returns one of the merchant's customers. Another merchant's is
// ENOTFOUND: ids are not confirmed to strangers.
func (s *Service) Customer(ctx context.Context, m Merchant, id string) (Customer, error) {
	c, err := s.Store.Customer(ctx, id)
	if err == nil && c.MerchantID != m.ID {
		err = &Error{Code: ENOTFOUND, Message: "no such customer"}
	}
	return c, err
}

// requestedCustomer checks a request's customer (field "customer"): one of
// the merchant's live customers, or EINVALID.
func (s *Service) requestedCustomer(ctx context.Context, m Merchant, id string) error {
	_, err := s.Customer(ctx, m, id)
	if ErrorCode(err) == ENOTFOUND {
		return &Error{Code: EINVALID, Field: "customer", Message: "customer must be the id of one of your customers"}
	}
	return err
}

// Customers returns a page of the merchant's customers in id order, after
// the customer id after ("" for the first page).
func (s *Service) Customers(ctx context.Context, m Merchant, after string, limit int) ([]Customer, error) {
	if after != "" && (len(after) > 64 || !printableASCII(after)) {
		return nil, &Error{Code: EINVALID, Field: "after", Message: "after must be the id of a customer (the previous page's next)"}
	}
	return s.Store.Customers(ctx, m.ID, after, limit)
}

// DeleteCustomer deletes one of the merchant's customers with its saved
// cards, whose numbers are erased from the vault at once.
func (s *Service) DeleteCustomer(ctx context.Context, m Merchant, id string) error {
	if _, err := s.Customer(ctx, m, id); err != nil {
		return err
	}
	return s.Store.DeleteCustomer(ctx, id, s.now())
}

// SavedCards returns a customer's saved cards.
func (s *Service) SavedCards(ctx context.Context, m Merchant, customerID string) ([]SavedCard, error) {
	if _, err := s.Customer(ctx, m, customerID); err != nil {
		return nil, err
	}
	return s.Store.SavedCards(ctx, customerID)
}

// DeleteSavedCard deletes one of a customer's saved cards; its number is
// erased from the vault at once.
func (s *Service) DeleteSavedCard(ctx context.Context, m Merchant, customerID, cardID string) error {
	if _, err := s.Customer(ctx, m, customerID); err != nil {
		return err
	}
	return s.Store.DeleteSavedCard(ctx, customerID, cardID, s.now())
}

// RemoveSavedCard is the shopper's removal of one of their saved cards from
// the payment page: the session id is their capability, and only an open
// session's customer's card may go. Its number is erased at once.
func (s *Service) RemoveSavedCard(ctx context.Context, sessionID, cardID string) error {
	co, err := s.OpenCheckout(ctx, sessionID)
	if err != nil {
		return err
	}
	if co.Session.StatusAt(s.now()) != SessionOpen {
		return &Error{Code: ECONFLICT, Message: "this checkout is no longer open", MsgID: "pay.expired"}
	}
	card, err := s.chosenCard(ctx, co, cardID)
	if err != nil {
		return err
	}
	return s.Store.DeleteSavedCard(ctx, co.Session.CustomerID, card.ID, s.now())
}

// Expiry is the saved card's expiry.
func (c SavedCard) Expiry() Expiry { return Expiry{Month: c.ExpMonth, Year: c.ExpYear} }

// vaultCard is the saved card as the vault's Tokenize would have answered
// it: a payment with a saved card stores nothing new.
func (c SavedCard) vaultCard() (vault.Card, error) {
	return vault.Card{Token: c.CardToken, Fingerprint: c.Fingerprint, Brand: string(c.Brand), Last4: c.Last4,
		ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}, nil
}

// cardOf is the submission's card: the one typed (checkCard), or the
// customer's saved card the shopper chose, whose number the vault gives
// back for this authorization only and whose security code the shopper
// typed again. saved is nil for a typed card.
func (s *Service) cardOf(ctx context.Context, co Checkout, req PayRequest, now time.Time) (PAN, Expiry, CVCPresence, *SavedCard, error) {
	if req.SavedCardID == "" {
		pan, exp, presence, err := s.checkCard(req, now)
		return pan, exp, presence, nil, err
	}
	saved, err := s.chosenCard(ctx, co, req.SavedCardID)
	if err != nil {
		return PAN{}, Expiry{}, "", nil, err
	}
	if saved.Expiry().ExpiredAt(now) {
		return PAN{}, Expiry{}, "", nil, FieldError("saved_card", "saved_card.expired", "This saved card has expired: use another card.", nil)
	}
	presence, err := CheckSecurityCode(req.CVC, saved.Brand)
	if err != nil {
		return PAN{}, Expiry{}, "", nil, err
	}
	pan, err := s.savedPAN(ctx, saved)
	switch {
	case errors.Is(err, vault.ErrErased):
		return PAN{}, Expiry{}, "", nil, unknownSavedCard()
	case errors.Is(err, errReveal):
		s.log().Error("revealing a saved card failed", "session", co.Session.ID, "saved_card", saved.ID, "err", err)
		return PAN{}, Expiry{}, "", nil, &Error{Code: EUNAVAILABLE, Message: "the card vault is unavailable; nothing was charged, please try again shortly", MsgID: "pay.unavailable"}
	case err != nil:
		return PAN{}, Expiry{}, "", nil, err
	}
	return pan, saved.Expiry(), presence, &saved, nil
}

// errReveal marks savedPAN's failures to get the number from the vault, as
// opposed to a number that does not parse.
var errReveal = errors.New("checkout: reveal saved card")

// savedPAN is a saved card's number, from the vault for one authorization;
// the caller wipes it. A failure of the vault is errReveal (with
// vault.ErrErased for an erased number).
func (s *Service) savedPAN(ctx context.Context, c SavedCard) (PAN, error) {
	number, err := s.Vault.Reveal(ctx, c.CardToken)
	defer wipe(number)
	if err != nil {
		return PAN{}, fmt.Errorf("%w: %w", errReveal, err)
	}
	pan, err := ParsePAN(number) // copies the digits
	if err != nil {
		return PAN{}, fmt.Errorf("checkout: saved card %s holds no valid number: %w", c.ID, err)
	}
	return pan, nil
}

// unknownSavedCard refuses a saved card that is not the session's
// customer's, or no longer exists.
func unknownSavedCard() *Error {
	return FieldError("saved_card", "saved_card.unknown", "This saved card is no longer available: use another card.", nil)
}

// chosenCard is the saved card of the session's customer the shopper
// chose; a card that is not theirs is refused as unknown.
func (s *Service) chosenCard(ctx context.Context, co Checkout, id string) (SavedCard, error) {
	if co.Session.CustomerID == "" {
		return SavedCard{}, unknownSavedCard()
	}
	cards, err := s.Store.SavedCards(ctx, co.Session.CustomerID)
	if err != nil {
		return SavedCard{}, err
	}
	for _, c := range cards {
		if c.ID == id {
			return c, nil
		}
	}
	return SavedCard{}, unknownSavedCard()
}

// usedSavedCard records that a saved card was just paid with; a failure
// only leaves its LastUsedAt behind, and is logged.
func (s *Service) usedSavedCard(ctx context.Context, c SavedCard, now time.Time) {
	if err := s.Store.UseSavedCard(ctx, c.ID, now); err != nil {
		s.log().Error("recording a saved card's use failed", "saved_card", c.ID, "err", err)
	}
}

// SavedCardView is a saved card as merchants see it, in the API and in the
// card.updated webhook alike: no more of the card than a payment shows.
type SavedCardView struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"` // "saved_card"
	Customer    string  `json:"customer"`
	Brand       string  `json:"brand"`
	Last4       string  `json:"last4"`
	ExpMonth    int     `json:"exp_month"`
	ExpYear     int     `json:"exp_year"`
	Fingerprint string  `json:"fingerprint"`
	CreatedAt   string  `json:"created_at"`   // RFC 3339, UTC, seconds
	LastUsedAt  *string `json:"last_used_at"` // null: not used since it was saved
}

// View is the saved card as merchants see it.
func (c SavedCard) View() SavedCardView {
	v := SavedCardView{ID: c.ID, Object: "saved_card", Customer: c.CustomerID, Brand: string(c.Brand), Last4: c.Last4,
		ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, Fingerprint: c.Fingerprint, CreatedAt: apiTime(c.CreatedAt)}
	if !c.LastUsedAt.IsZero() {
		used := apiTime(c.LastUsedAt)
		v.LastUsedAt = &used
	}
	return v
}

// CardUpdate is the processor's account-updater notice for a card: the
// issuer reissued it with a new expiry, under the same number.
type CardUpdate struct {
	ExpMonth int `json:"exp_month"`
	ExpYear  int `json:"exp_year"`
}

// OwnedCard is a saved card with the merchant whose customer saved it.
type OwnedCard struct {
	SavedCard
	MerchantID string
}

// CardUpdateStore applies account-updater notices.
type CardUpdateStore interface {
	// CardsByToken returns the saved cards kept under a vault token, with
	// their merchants.
	CardsByToken(ctx context.Context, token string) ([]OwnedCard, error)
	// UpdateCardExpiry sets the expiry of the vault's card under token and
	// of the saved cards kept under it, and stores events, in one
	// transaction; it returns how many saved cards it updated.
	UpdateCardExpiry(ctx context.Context, token string, month, year int, events ...WebhookEvent) (int, error)
}

// UpdateCard applies the processor's notice that the card under a vault
// token has a new expiry: the saved cards keep their token and take the
// expiry, and each one's merchant hears card.updated, with the change. A
// token no saved card holds is ENOTFOUND (a card nobody saved needs no
// update).
func (s *Service) UpdateCard(ctx context.Context, token string, u CardUpdate) (int, error) {
	now := s.now()
	if u.ExpMonth < 1 || u.ExpMonth > 12 || u.ExpYear > now.Year()+20 || (Expiry{Month: u.ExpMonth, Year: u.ExpYear}).ExpiredAt(now) {
		return 0, &Error{Code: EINVALID, Field: "exp_month", Message: "exp_month and exp_year must be a month from now to 20 years ahead"}
	}
	cards, err := s.Store.CardsByToken(ctx, token)
	if err != nil {
		return 0, err
	}
	if len(cards) == 0 {
		return 0, &Error{Code: ENOTFOUND, Message: "no saved card is kept under this token"}
	}
	var events []WebhookEvent
	for _, c := range cards {
		c.ExpMonth, c.ExpYear = u.ExpMonth, u.ExpYear
		e, err := NewWebhookEvent(Event{Type: EventCardUpdated, MerchantID: c.MerchantID, Data: c.SavedCard.View(), CreatedAt: now}, now)
		if err != nil {
			return 0, err
		}
		events = append(events, e)
	}
	n, err := s.Store.UpdateCardExpiry(ctx, token, u.ExpMonth, u.ExpYear, events...)
	if err != nil {
		return 0, err
	}
	s.stored(events)
	return n, nil
}
