package checkout

import (
	"context"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// PaymentSucceeded is the status of an approved payment. Declined submissions
// are attempts, not payments: a session has at most one payment.
const PaymentSucceeded = "succeeded"

// Payment is an approved authorization of a session's amount. It holds no
// more of the card than the token, brand, last 4, expiry and fingerprint.
type Payment struct {
	ID          string
	SessionID   string
	MerchantID  string
	OrderID     string
	Amount      int64
	Currency    string
	Status      string
	CardToken   string
	Brand       Brand
	Last4       string
	ExpMonth    int
	ExpYear     int
	Fingerprint string
	CVCCheck    CVCCheck
	AuthCode    string
	CreatedAt   time.Time
}

// Card is the payment's card as merchants see it, in the API and in the
// signed result alike: never more than brand, last 4 and expiry.
func (p Payment) Card() verify.Card {
	return verify.Card{
		Token:       p.CardToken,
		Brand:       string(p.Brand),
		Last4:       p.Last4,
		ExpMonth:    p.ExpMonth,
		ExpYear:     p.ExpYear,
		Fingerprint: p.Fingerprint,
	}
}

// Attempt outcomes.
const (
	AttemptApproved = "approved"
	AttemptDeclined = "declined"
	AttemptTimeout  = "timeout"  // no answer before the deadline; the attempt was reversed
	AttemptError    = "error"    // the issuer or a dependency failed
	AttemptReversed = "reversed" // approved, but could not be recorded, so it was reversed
)

// Attempt is one card submission on a session, whatever its outcome. It is
// kept for the merchant's and the fraud rules' history; like every stored
// value it holds no security code.
type Attempt struct {
	SessionID     string
	N             int // 1 for the session's first submission
	Outcome       string
	DeclineReason string
	CVCCheck      CVCCheck
	CardToken     string
	Fingerprint   string
	Brand         Brand
	Last4         string
	CreatedAt     time.Time
}

// IdempotencyKey is the key the attempt is authorized under: a repeat of the
// same key at the issuer answers the first result instead of charging again.
func (a Attempt) IdempotencyKey() string { return attemptKey(a.SessionID, a.N) }

// PaymentStore reads payments.
type PaymentStore interface {
	// Payment returns one payment; ENOTFOUND when missing.
	Payment(ctx context.Context, id string) (Payment, error)
}
