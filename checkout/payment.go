package checkout

import (
	"cmp"
	"context"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// Payment statuses. Declined and blocked submissions are attempts, not
// payments: a session has at most one payment.
const (
	PaymentSucceeded  = "succeeded"  // approved, screened OK and captured at once (capture_method automatic)
	PaymentAuthorized = "authorized" // approved and screened OK, awaiting the merchant's capture (capture_method manual)
	PaymentHeld       = "held"       // approved but screened REVIEW: the merchant captures or voids it
	PaymentCaptured   = "captured"   // an authorized or held payment the merchant captured, in full or in part
	PaymentVoided     = "voided"     // an authorized or held payment the merchant voided: the authorization was reversed
	PaymentExpired    = "expired"    // an authorized or held payment not captured by its AuthorizedUntil: voided
	PaymentRefunded   = "refunded"   // a captured payment refunded in full (AmountRefunded = AmountCaptured)
)

// Capture methods: when a session's payment is captured.
const (
	CaptureAutomatic = "automatic" // at authorization (one message to the issuer)
	CaptureManual    = "manual"    // when the merchant captures it, before the authorization expires
)

// awaitsCapture reports whether a payment in status is an authorization
// the merchant may still capture or void.
func awaitsCapture(status string) bool { return status == PaymentAuthorized || status == PaymentHeld }

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
	// CaptureMethod is the session's: automatic or manual.
	CaptureMethod string
	// AmountCaptured is what the issuer has captured: Amount for a payment
	// captured at authorization, what the merchant captured (at most
	// Amount) for one captured later, 0 while it awaits capture.
	AmountCaptured int64
	// AmountRefunded is what refunds have returned or are returning
	// (pending ones included) of AmountCaptured.
	AmountRefunded int64
	// AuthorizedUntil is when an authorization awaiting capture expires;
	// zero for a payment that awaits none.
	AuthorizedUntil time.Time
	// Risk is the screening decision, after the issuer's answer; nil for a
	// payment made before screening existed.
	Risk *RiskDecision
	// ThreeDS is the 3-D Secure authentication the authorization carried;
	// nil when none was made (no Authenticator configured).
	ThreeDS *ThreeDS
	// Method is how the shopper pays the card back (lump sum unless chosen).
	Method PaymentMethod
	// Initiator is who began the payment: InitiatorCustomer on the page, or
	// InitiatorMerchant for a charge of a saved card (POST /v1/payments),
	// with its MITReason (ReasonUnscheduled or ReasonRecurring).
	Initiator string
	MITReason string
	CreatedAt time.Time
}

// Remaining is what of the payment a refund or a chargeback may still
// take: what was captured, less what refunds took (pending ones included),
// less chargedBack.
func (p Payment) Remaining(chargedBack int64) int64 {
	return p.AmountCaptured - p.AmountRefunded - chargedBack
}

// LiabilityShift reports whether 3-D Secure moved a fraud chargeback on
// this payment to the issuer.
func (p Payment) LiabilityShift() bool { return p.ThreeDS != nil && p.ThreeDS.LiabilityShift }

// PaymentView is a payment as merchants see it, in the API and in webhooks
// alike (docs/API.md): of the card, only what PCI DSS 3.4.1 allows to
// display (brand, last 4, expiry) and references.
type PaymentView struct {
	ID        string `json:"id"`
	Object    string `json:"object"` // "payment"
	SessionID string `json:"session_id"`
	OrderID   string `json:"order_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Status    string `json:"status"`
	// CaptureMethod, AmountCaptured and AuthorizedUntil (RFC 3339, UTC,
	// seconds; absent unless the payment awaits capture): docs/API.md.
	CaptureMethod   string               `json:"capture_method"`
	AmountCaptured  int64                `json:"amount_captured"`
	AmountRefunded  int64                `json:"amount_refunded"`
	AuthorizedUntil string               `json:"authorized_until,omitempty"`
	Card            verify.Card          `json:"card"`
	CVCCheck        string               `json:"cvc_check"`
	Risk            *RiskDecision        `json:"risk"`
	ThreeDS         *ThreeDS             `json:"three_ds"`
	PaymentMethod   verify.PaymentMethod `json:"payment_method"`
	// Initiator is "customer" (the shopper, on the page) or "merchant" (a
	// charge of a saved card), with Reason for the latter.
	Initiator string `json:"initiator"`
	Reason    string `json:"reason,omitempty"`
	CreatedAt string `json:"created_at"` // RFC 3339, UTC, seconds
}

// View is the payment as merchants see it.
func (p Payment) View() PaymentView {
	until := ""
	if !p.AuthorizedUntil.IsZero() {
		until = p.AuthorizedUntil.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return PaymentView{
		CaptureMethod:   p.CaptureMethod,
		AmountCaptured:  p.AmountCaptured,
		AmountRefunded:  p.AmountRefunded,
		AuthorizedUntil: until,
		ID:              p.ID,
		Object:          "payment",
		SessionID:       p.SessionID,
		OrderID:         p.OrderID,
		Amount:          p.Amount,
		Currency:        p.Currency,
		Status:          p.Status,
		Card:            p.Card(),
		CVCCheck:        string(p.CVCCheck),
		Risk:            p.Risk,
		ThreeDS:         p.ThreeDS,
		PaymentMethod:   p.Method.View(),
		Initiator:       cmp.Or(p.Initiator, InitiatorCustomer),
		Reason:          p.MITReason,
		CreatedAt:       p.CreatedAt.UTC().Truncate(time.Second).Format(time.RFC3339),
	}
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
	AttemptReversed = "reversed" // approved, but could not be recorded (or rescreened), so it was reversed
	// AttemptBlocked: screening said NG, so it was not authorized, or, when
	// the issuer's answer made it NG (a security code mismatch), the
	// authorization was reversed at once.
	AttemptBlocked = "blocked"
	// AttemptAuthenticationRequired: the issuer wants the shopper
	// challenged (3-D Secure). Nothing was authorized; the security code is
	// gone, and the page sends the card again once the shopper has answered.
	AttemptAuthenticationRequired = "authentication_required"
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
	// Risk is the attempt's screening decision (after the issuer's answer
	// when there was one); nil when it was not screened (refused before).
	Risk *RiskDecision
	// ThreeDS is the attempt's 3-D Secure authentication, when one was made.
	ThreeDS   *ThreeDS
	CreatedAt time.Time
}

// IdempotencyKey is the key the attempt is authorized under: a repeat of the
// same key at the issuer answers the first result instead of charging again.
func (a Attempt) IdempotencyKey() string { return attemptKey(a.SessionID, a.N) }

// PaymentStore reads payments and moves them on after authorization.
type PaymentStore interface {
	// Payment returns one payment; ENOTFOUND when missing.
	Payment(ctx context.Context, id string) (Payment, error)
	// MovePayment moves a payment from m.From to m.To, with what it has
	// captured and until when it may be captured, in one conditional
	// write, and returns it as written; ECONFLICT when it is not in m.From
	// (another request moved it first), ENOTFOUND when missing. events are
	// stored in the same transaction as the move, only if it happens.
	MovePayment(ctx context.Context, m PaymentMove, events ...WebhookEvent) (Payment, error)
	// Attempts returns a session's attempts, oldest first (none for a
	// session without any, or a missing one).
	Attempts(ctx context.Context, sessionID string) ([]Attempt, error)
	// DueAuthorizations returns up to limit payments awaiting capture
	// (authorized or held) whose AuthorizedUntil is at or before now,
	// the longest overdue first.
	DueAuthorizations(ctx context.Context, now time.Time, limit int) ([]Payment, error)
}

// PaymentMove is a payment's move from one status to another: what it has
// captured and until when its authorization may be captured, once moved.
type PaymentMove struct {
	ID              string
	From, To        string
	AmountCaptured  int64
	AuthorizedUntil time.Time // zero: none
}
