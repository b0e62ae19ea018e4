package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Decline reasons an Authorizer reports. They are kept on the attempt for
// the merchant's history; the shopper sees one message for all of them.
const (
	DeclineGeneric           = "generic"
	DeclineInsufficientFunds = "insufficient_funds"
	DeclineExpiredCard       = "expired_card"
	DeclineIncorrectCVC      = "incorrect_cvc"
	DeclineCVCRequired       = "cvc_required"           // "X" for a card that has a code
	DeclineMethodRefused     = "payment_method_refused" // the issuer does not take the chosen payment method for this card
	DeclineCardClosed        = "card_closed"            // the account is closed: the card cannot be charged again
	DeclineCustomerRequired  = "customer_required"      // the issuer wants the cardholder present (authentication): bring them back to the page
)

// AuthRequest asks the issuer to authorize an amount on a card. It lives only
// in memory for the length of one call; every way of printing it leaves out
// the card number and the security code.
type AuthRequest struct {
	Key        string // idempotency key at the issuer: the same key never charges twice
	MerchantID string
	Amount     int64
	Currency   string
	PAN        PAN
	Expiry     Expiry
	Holder     string
	// CVC is the shopper's security code: the request buffer itself, zeroed
	// by the Service as soon as Authorize returns (PCI DSS 3.3.1.2). Empty
	// when CVCPresence is not CVCProvided.
	CVC         []byte `json:"-"`
	CVCPresence CVCPresence
	// ThreeDS is the shopper's 3-D Secure authentication (ECI, status), and
	// AuthenticationValue its CAVV/AAV; nil and empty without one.
	ThreeDS             *ThreeDS
	AuthenticationValue string `json:"-"`
	// Capture asks the issuer to capture the amount with the approval (a
	// sale): automatic sessions whose screening said OK. Otherwise the
	// approval is an authorization that Capture takes later, or Reverse
	// releases.
	Capture bool
	// Method is how the shopper pays the card back (sent as its JCCA code).
	Method PaymentMethod
	// Initiator is InitiatorMerchant for a charge of a saved card without
	// its shopper (no security code, no 3-D Secure), with StoredCredential
	// saying why and referring to the payment that saved it; "" (the
	// shopper's) otherwise.
	Initiator        string
	StoredCredential *StoredCredential
}

// String leaves out the card number and security code.
func (r *AuthRequest) String() string {
	return fmt.Sprintf("AuthRequest{key=%s amount=%d %s card=%s cvc=%s}", r.Key, r.Amount, r.Currency, r.PAN.Masked(), r.CVCPresence)
}

// Format prints String under every verb, so %v and %+v cannot reach the code.
func (r *AuthRequest) Format(f fmt.State, verb rune) { fmt.Fprint(f, r.String()) }

// LogValue leaves out the card number and security code.
func (r *AuthRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", r.Key), slog.Int64("amount", r.Amount),
		slog.String("currency", r.Currency), slog.String("card", r.PAN.Masked()),
		slog.String("cvc_presence", string(r.CVCPresence)))
}

// AuthResult is the issuer's answer.
type AuthResult struct {
	Approved      bool
	AuthCode      string // the issuer's approval code
	DeclineReason string // one of the Decline* reasons when not approved
	CVCCheck      CVCCheck
}

// Authorizer authorizes card payments at an issuer (through a processor).
// checkout/sandbox implements it for development and tests.
type Authorizer interface {
	// Authorize asks for the amount. It must honour ctx's deadline; a
	// declined card is a result, not an error. Errors mean the issuer could
	// not answer (the Service reports EUNAVAILABLE, or ETIMEOUT past the
	// deadline). Authorize must not keep req.CVC or anything derived from it.
	Authorize(ctx context.Context, req *AuthRequest) (AuthResult, error)
	// Reverse cancels any authorization made under key, captured or not
	// (a void, before the issuer settles it); no error when there was none.
	Reverse(ctx context.Context, key string) error
	// Capture captures amount (at most what was authorized; the rest is
	// released) of the authorization made under key. The same capture
	// again answers as the first; another amount after a capture is
	// ErrCaptureConflict, and an authorization that is not standing (never
	// approved, or reversed) ErrNotAuthorized.
	Capture(ctx context.Context, key string, amount int64) error
	// Refund sends a refund order, or, for a refund id it has seen,
	// answers where that refund stands. Errors mean the issuer could not
	// answer: the refund stays pending and is asked again.
	Refund(ctx context.Context, o RefundOrder) (RefundAnswer, error)
}

// Errors of Authorizer.Capture that are answers, not failures to reach
// the issuer.
var (
	ErrCaptureConflict = errors.New("checkout: the authorization was captured with another amount")
	ErrNotAuthorized   = errors.New("checkout: no standing authorization to capture")
)
