package checkout

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SessionStatus is where a checkout session is in its life.
type SessionStatus string

// Session statuses. A session is paid at most once.
const (
	SessionOpen       SessionStatus = "open"       // waiting for the shopper's card
	SessionProcessing SessionStatus = "processing" // one card is being authorized; other submissions wait
	SessionPaid       SessionStatus = "paid"       // done; PaymentID is set
	SessionExpired    SessionStatus = "expired"    // past ExpiresAt without a payment
)

// Result delivery modes for the redirect flow.
const (
	DeliverPost  = "post"  // auto-submitted POST form: the token stays out of URLs and logs
	DeliverQuery = "query" // ?checkout_result=... for merchants that cannot take a POST
)

// Session is one checkout: an amount a merchant wants paid and where the
// shopper goes afterwards.
type Session struct {
	ID              string
	MerchantID      string
	Amount          int64
	Currency        string
	OrderID         string
	SuccessURL      string
	CancelURL       string
	Locale          string
	ResultDelivery  string
	CustomerEmail   string
	Shipping        *Address
	Status          SessionStatus
	Attempts        int // card submissions so far
	PaymentID       string
	CreatedAt       time.Time
	ExpiresAt       time.Time
	ProcessingSince time.Time // when the current attempt began (status processing)
	// CaptureMethod is when the payment is captured (CaptureAutomatic or
	// CaptureManual), and AuthorizationDays how long an authorization
	// awaiting capture lasts.
	CaptureMethod     string
	AuthorizationDays int
	// PaymentMethods restricts the merchant's payment methods for this
	// session; nil offers all of them.
	PaymentMethods *PaymentMethodSet
	// CustomerID is the merchant's customer the shopper is ("" for none),
	// and SaveCard whether the card is saved for them: "", SaveCardOptional
	// or SaveCardRequired.
	CustomerID string
	SaveCard   string
}

// Whether a session saves the card it is paid with, for its customer.
const (
	SaveCardOptional = "optional" // the page asks the shopper, unticked
	SaveCardRequired = "required" // the page says it will (subscriptions): paying is agreeing
)

// Pageless reports whether the session is a merchant's charge of a saved
// card (Charge): made and paid by the merchant's call, with no page and no
// return URL.
func (s Session) Pageless() bool { return s.SuccessURL == "" }

// StatusAt is the status as the shopper and merchant see it at now: an open
// session past its expiry is expired even before anything rewrites it.
func (s Session) StatusAt(now time.Time) SessionStatus {
	if s.Status == SessionOpen && !now.Before(s.ExpiresAt) {
		return SessionExpired
	}
	return s.Status
}

// EffectiveCaptureMethod is the session's capture method: automatic for
// one made without the choice (before it existed, or by a store's caller
// that left it out).
func (s Session) EffectiveCaptureMethod() string {
	if s.CaptureMethod == "" {
		return CaptureAutomatic
	}
	return s.CaptureMethod
}

// EffectiveAuthorizationDays is how many days the session's authorization
// awaits capture: DefaultAuthorizationDays when it says none.
func (s Session) EffectiveAuthorizationDays() int {
	if s.AuthorizationDays == 0 {
		return DefaultAuthorizationDays
	}
	return s.AuthorizationDays
}

// AttemptRefused is the error of a BeginAttempt that could not move a
// session whose status was status before it: ECONFLICT when it is paid or
// another attempt holds it, EEXPIRED when it has expired. Every store
// answers with it, so the Service tells the cases apart the same way on
// each.
func AttemptRefused(status SessionStatus) error {
	switch status {
	case SessionPaid:
		return &Error{Code: ECONFLICT, Message: "this checkout is already paid"}
	case SessionProcessing:
		return &Error{Code: ECONFLICT, Message: "a payment for this checkout is already in progress"}
	case SessionOpen, SessionExpired:
		return &Error{Code: EEXPIRED, Message: "this checkout has expired"}
	}
	return &Error{Code: ECONFLICT, Message: "this checkout cannot take a payment"}
}

// Address is a shipping address, kept as given (fraud screening normalises it later).
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// SessionRequest is what a merchant sends to create a session.
type SessionRequest struct {
	Amount          int64    `json:"amount"`
	Currency        string   `json:"currency"`
	OrderID         string   `json:"order_id"`
	SuccessURL      string   `json:"success_url"`
	CancelURL       string   `json:"cancel_url"`
	Locale          string   `json:"locale"`
	ResultDelivery  string   `json:"result_delivery"`
	CustomerEmail   string   `json:"customer_email"`
	ShippingAddress *Address `json:"shipping_address"`
	// CaptureMethod is "automatic" (the default) or "manual". Both are
	// omitted when empty so that the idempotency hash of a request without
	// them is what it was before they existed.
	CaptureMethod string `json:"capture_method,omitempty"`
	// AuthorizationTTL is how many days a manual payment's authorization
	// (or a held one's) may wait for its capture: 1 to 60, 7 by default.
	AuthorizationTTL int `json:"authorization_ttl,omitempty"`
	// PaymentMethods restricts the merchant's payment methods (JPY only);
	// absent, the shopper may choose any the merchant offers.
	PaymentMethods *PaymentMethodSet `json:"payment_methods,omitempty"`
	// Customer is one of the merchant's customers (cus_...), and SaveCard
	// whether to save the card for them: "optional" or "required".
	Customer string `json:"customer,omitempty"`
	SaveCard string `json:"save_card,omitempty"`
}

// Currency is an ISO 4217 currency the checkout accepts.
type Currency struct {
	Code     string
	Decimals int // digits of the minor unit: JPY 0, USD 2
	Symbol   string
}

// currencies accepted. Amounts are always integers in the minor unit.
var currencies = map[string]Currency{
	"JPY": {"JPY", 0, "¥"},
	"USD": {"USD", 2, "$"},
	"EUR": {"EUR", 2, "€"},
	"GBP": {"GBP", 2, "£"},
}

// LookupCurrency returns an accepted currency by its ISO 4217 code.
func LookupCurrency(code string) (Currency, bool) {
	c, ok := currencies[code]
	return c, ok
}

// FormatAmount renders a minor-unit amount for people, e.g. ¥1,500 or $12.34.
func FormatAmount(amount int64, code string) string {
	c, ok := currencies[code]
	if !ok {
		return fmt.Sprintf("%d %s", amount, code)
	}
	div := int64(1)
	for range c.Decimals {
		div *= 10
	}
	major, minor := amount/div, amount%div
	s := c.Symbol + groupThousands(major)
	if c.Decimals > 0 {
		s += fmt.Sprintf(".%0*d", c.Decimals, minor)
	}
	return s
}

func groupThousands(n int64) string {
	digits := fmt.Sprint(n)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// Limits of a session request.
const (
	// An authorization awaits its capture DefaultAuthorizationDays unless
	// the session says otherwise, from 1 to MaxAuthorizationDays: PAY.JP's
	// range. The card networks hold an authorization for 7 to 30 days by
	// brand and kind; past an issuer's own limit the capture is declined
	// there, and the merchant captures earlier.
	DefaultAuthorizationDays = 7
	MaxAuthorizationDays     = 60

	MaxAmount  = 99_999_999
	maxOrderID = 64
	maxEmail   = 254
	maxAddress = 200 // per address line
)

var orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-_.:/]{1,64}$`)

// checkOrder checks what every payment asks for, from a session or a
// charge: an amount in the minor unit, an accepted currency, the
// merchant's order id.
func checkOrder(amount int64, currency, orderID string) error {
	if amount < 1 || amount > MaxAmount {
		return &Error{Code: EINVALID, Field: "amount", Message: fmt.Sprintf("amount must be an integer from 1 to %d in the currency's minor unit", MaxAmount)}
	}
	if _, ok := currencies[currency]; !ok {
		return &Error{Code: EINVALID, Field: "currency", Message: "currency must be one of JPY, USD, EUR, GBP (ISO 4217, upper case)"}
	}
	if !orderIDPattern.MatchString(orderID) {
		return &Error{Code: EINVALID, Field: "order_id", Message: "order_id must be 1 to 64 characters of A-Z a-z 0-9 - _ . : /"}
	}
	return nil
}

// Validate checks a request against the rules in docs/API.md and the
// merchant's registered origins, and fills in defaults. Return URLs off the
// merchant's origins are refused: an open redirect on a payment page would
// hand shoppers, and their results, to whoever wrote the URL.
func (r *SessionRequest) Validate(m Merchant) error {
	if err := checkOrder(r.Amount, r.Currency, r.OrderID); err != nil {
		return err
	}
	success, err := CheckReturnURL("success_url", r.SuccessURL, m.Origins)
	if err != nil {
		return err
	}
	r.SuccessURL = success.String()
	if r.CancelURL != "" {
		cancel, err := CheckReturnURL("cancel_url", r.CancelURL, m.Origins)
		if err != nil {
			return err
		}
		r.CancelURL = cancel.String()
	}
	switch r.Locale {
	case "":
		r.Locale = "auto"
	case "ja", "en", "auto":
	default:
		return &Error{Code: EINVALID, Field: "locale", Message: `locale must be "ja", "en" or "auto"`}
	}
	switch r.ResultDelivery {
	case "":
		r.ResultDelivery = DeliverPost
	case DeliverPost, DeliverQuery:
	default:
		return &Error{Code: EINVALID, Field: "result_delivery", Message: `result_delivery must be "post" or "query"`}
	}
	switch r.CaptureMethod {
	case "":
		r.CaptureMethod = CaptureAutomatic
	case CaptureAutomatic, CaptureManual:
	default:
		return &Error{Code: EINVALID, Field: "capture_method", Message: `capture_method must be "automatic" or "manual"`}
	}
	switch {
	case r.AuthorizationTTL == 0:
		r.AuthorizationTTL = DefaultAuthorizationDays
	case r.AuthorizationTTL < 1 || r.AuthorizationTTL > MaxAuthorizationDays:
		return &Error{Code: EINVALID, Field: "authorization_ttl", Message: fmt.Sprintf("authorization_ttl must be a whole number of days from 1 to %d", MaxAuthorizationDays)}
	}
	if r.PaymentMethods != nil {
		set, err := r.PaymentMethods.restrictFor(r.Currency, m.PaymentMethods)
		if err != nil {
			return err
		}
		r.PaymentMethods = &set
	}
	switch r.SaveCard {
	case "":
	case SaveCardOptional, SaveCardRequired:
		if r.Customer == "" {
			return &Error{Code: EINVALID, Field: "save_card", Message: "save_card needs a customer to save the card for"}
		}
	default:
		return &Error{Code: EINVALID, Field: "save_card", Message: `save_card must be "optional" or "required"`}
	}
	if r.CustomerEmail != "" && !validEmail(r.CustomerEmail) {
		return &Error{Code: EINVALID, Field: "customer_email", Message: "customer_email must be an email address of at most 254 characters"}
	}
	if a := r.ShippingAddress; a != nil {
		for field, v := range map[string]string{"name": a.Name, "line1": a.Line1, "line2": a.Line2, "city": a.City, "state": a.State, "postal_code": a.PostalCode} {
			if utf8.RuneCountInString(v) > maxAddress || !printable(v) {
				return &Error{Code: EINVALID, Field: "shipping_address." + field, Message: fmt.Sprintf("shipping_address.%s must be at most %d printable characters", field, maxAddress)}
			}
		}
		if a.Line1 == "" {
			return &Error{Code: EINVALID, Field: "shipping_address.line1", Message: "shipping_address.line1 is required"}
		}
		if !countryPattern.MatchString(a.Country) {
			return &Error{Code: EINVALID, Field: "shipping_address.country", Message: "shipping_address.country must be an ISO 3166-1 alpha-2 code such as JP"}
		}
	}
	return nil
}

var countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)

// validEmail is the checkout's loose check of an email address: one @ with
// something on each side, printable, no spaces or angle brackets, at most
// 254 bytes. Deliverability is the merchant's to know.
func validEmail(s string) bool {
	return len(s) <= maxEmail && strings.Count(s, "@") == 1 && !strings.HasPrefix(s, "@") && !strings.HasSuffix(s, "@") &&
		printable(s) && !strings.ContainsAny(s, " <>")
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// IdempotencyKeyTTL is how long an Idempotency-Key answers its first
// session again; after it the key may be reused.
const IdempotencyKeyTTL = 24 * time.Hour

// SessionStore keeps sessions and moves them through their states. Each
// transition is one conditional write, so that several instances agree.
type SessionStore interface {
	// CreateSession stores a new open session.
	CreateSession(ctx context.Context, s Session) error
	// CreateSessionIdempotent stores s under the merchant's idempotency key
	// unless the key is already taken, in one transaction. It returns the
	// session stored under the key and whether it is s (created). The same
	// key with another requestHash is EIDEMPOTENCY. Keys are kept for
	// IdempotencyKeyTTL, counted from s.CreatedAt.
	CreateSessionIdempotent(ctx context.Context, s Session, key string, requestHash []byte) (stored Session, created bool, err error)
	// IdempotentSession returns the session stored under the merchant's
	// idempotency key, if one is, within IdempotencyKeyTTL of now: found
	// is false when none is. The same key with another requestHash is
	// EIDEMPOTENCY.
	IdempotentSession(ctx context.Context, merchantID, key string, requestHash []byte, now time.Time) (stored Session, found bool, err error)
	// Session returns a session; ENOTFOUND when missing.
	Session(ctx context.Context, id string) (Session, error)
	// Checkout returns a session with its merchant, in one read (the page
	// and every submission need both); ENOTFOUND when the session is
	// missing.
	Checkout(ctx context.Context, sessionID string) (Checkout, error)
	// BeginAttempt moves an open, unexpired session (or one stuck in processing
	// since before staleBefore) to processing and counts the attempt. It returns
	// the session as it was before the change; ECONFLICT when another attempt
	// holds it or it is paid, EEXPIRED when it has expired, ENOTFOUND.
	BeginAttempt(ctx context.Context, id string, now, staleBefore time.Time) (Session, error)
	// FinishAttempt records the attempt's outcome. With a payment, the payment
	// is stored and the session becomes paid, in one transaction; without one,
	// the session is open again. Either happens only while this attempt still
	// holds the session (processing, and a.N is its latest attempt): an
	// attempt taken over as stale, and reversed by its successor, must not pay
	// it. Otherwise ECONFLICT; ENOTFOUND when the session is missing.
	// events (the payment's webhook events) are stored in the same
	// transaction, with their deliveries: they exist if and only if the
	// change they describe does. The same transaction ends the attempt's
	// security-code lockout reservation (risk.LockoutBudget's slot
	// a.IdempotencyKey(), unless the issuer's answer made it a failure), so
	// that an answer other than a wrong code costs no write of its own.
	FinishAttempt(ctx context.Context, a Attempt, p *Payment, events ...WebhookEvent) error
}
