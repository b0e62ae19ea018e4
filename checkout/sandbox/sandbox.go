// Package sandbox is the built-in test issuer: an Authorizer that answers
// like a real issuer for the documented test cards (docs/API.md), so that
// merchants and our own tests can reach every outcome without a processor.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Test card numbers with a fixed behaviour. Any other valid card number is
// approved, with any well-formed security code passing the check.
const (
	CardVisa             = "4242424242424242"
	CardMastercard       = "5555555555554444"
	CardJCB              = "3530111333300000"
	CardDiners           = "30569309020004"
	CardAmex             = "378282246310005"
	CardDiscover         = "6011111111111117"
	CardUnionPay         = "6200000000000005"
	CardVisaJP           = "4111111111111111" // issued in Japan: takes every Japanese payment method
	CardAmexJP           = "378734493671000"  // issued in Japan: bonus and revolving, no installments
	CardMethodRefused    = "4111110000000062" // issued in Japan; the issuer refuses anything but lump sum
	CardMITClosed        = "4000000000000341" // approved with its shopper; the merchant's later charges decline card_closed
	CardMITNeedsCustomer = "4000000000000358" // approved with its shopper; the merchant's later charges decline customer_required
	CardDeclined         = "4000000000000002"
	CardInsufficient     = "4000000000009995"
	CardExpiredAtIssuer  = "4000000000000069"
	CardCVCMismatch      = "4000000000000127"
	CardProcessingError  = "4000000000000119"
	CardSlow             = "4000000000003220"
	CardWithoutCode      = "4000000000003238"
	CardRefundFails      = "4000000000005126" // approved; its refunds fail
	CardRefundLate       = "4000000000007726" // approved; its refunds stay pending for LateRefund, then succeed
	DefaultLateRefund    = 3 * time.Second
	CorrectCode          = "123"  // the code the documented 3-digit cards carry
	CorrectAmexCode      = "1234" // the CID on the front of the AMEX test card
	DefaultSlowResponse  = 10 * time.Second
	errProcessingMessage = "sandbox: issuer processing error"
)

// knownCode says which cards have a documented security code.
var knownCode = map[string]string{
	CardVisa:             CorrectCode,
	CardMastercard:       CorrectCode,
	CardJCB:              CorrectCode,
	CardDiners:           CorrectCode,
	CardAmex:             CorrectAmexCode,
	CardDiscover:         CorrectCode,
	CardUnionPay:         CorrectCode,
	CardVisaJP:           CorrectCode,
	CardAmexJP:           CorrectAmexCode,
	CardMethodRefused:    CorrectCode,
	CardMITClosed:        CorrectCode,
	CardMITNeedsCustomer: CorrectCode,
}

// ErrProcessing is what the issuer answers for CardProcessingError.
var ErrProcessing = errors.New(errProcessingMessage)

// Issuer is the sandbox Authorizer. It is idempotent by request key, like a
// real processor: the same key answers the first result and charges once.
type Issuer struct {
	// SlowResponse is how long CardSlow takes to answer.
	SlowResponse time.Duration
	// LateRefund is how long a refund of CardRefundLate stays pending.
	LateRefund time.Duration

	mu       sync.Mutex
	byKey    map[string]checkout.AuthResult
	captured map[string]int64                  // by key: the amount captured
	refundAs map[string]string                 // by key: the refund behaviour of its card (CardRefundFails, CardRefundLate)
	refunds  map[string]time.Time              // by refund id: when it was first asked
	methods  map[string]checkout.PaymentMethod // by key: the payment method of an approval
	charges  int                               // approved authorizations actually made (not replays)
	reversed int
	calls    int
}

var _ checkout.Authorizer = (*Issuer)(nil)

// New returns a sandbox issuer.
func New() *Issuer {
	return &Issuer{SlowResponse: DefaultSlowResponse, LateRefund: DefaultLateRefund, byKey: map[string]checkout.AuthResult{},
		captured: map[string]int64{}, refundAs: map[string]string{}, refunds: map[string]time.Time{},
		methods: map[string]checkout.PaymentMethod{}}
}

// Authorize answers by card number as docs/API.md lists. It compares the
// security code in place and keeps nothing of it.
func (s *Issuer) Authorize(ctx context.Context, req *checkout.AuthRequest) (checkout.AuthResult, error) {
	s.mu.Lock()
	s.calls++
	if r, ok := s.byKey[req.Key]; ok {
		s.mu.Unlock()
		return r, nil
	}
	s.mu.Unlock()

	number := req.PAN.Reveal()
	switch string(number) {
	case CardSlow:
		select {
		case <-time.After(s.SlowResponse):
		case <-ctx.Done():
			return checkout.AuthResult{}, ctx.Err()
		}
	case CardProcessingError:
		return checkout.AuthResult{}, ErrProcessing
	}
	if err := ctx.Err(); err != nil {
		return checkout.AuthResult{}, err
	}

	result := decide(req, number)
	s.mu.Lock()
	defer s.mu.Unlock()
	if first, ok := s.byKey[req.Key]; ok { // a concurrent replay won the race
		return first, nil
	}
	s.byKey[req.Key] = result
	if result.Approved {
		s.charges++
		s.methods[req.Key] = req.Method.Effective()
		if req.Capture {
			s.captured[req.Key] = req.Amount
		}
		if n := string(number); n == CardRefundFails || n == CardRefundLate {
			s.refundAs[req.Key] = n
		}
	}
	return result, nil
}

// Capture captures amount of the approved authorization under key, once:
// the same amount again answers as the first. A key this process never saw
// is taken as an authorization another instance's sandbox (or this one
// before a restart) approved: each process keeps its own, where a real
// processor has one for all. One it saw declined or reversed is refused.
func (s *Issuer) Capture(ctx context.Context, key string, amount int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byKey[key]; ok && !r.Approved {
		return checkout.ErrNotAuthorized
	}
	if got, ok := s.captured[key]; ok {
		if got != amount {
			return checkout.ErrCaptureConflict
		}
		return nil
	}
	s.captured[key] = amount
	return nil
}

// Refund answers by the card the authorization under o.Key was made with:
// CardRefundFails fails, CardRefundLate is pending for LateRefund after it
// was first asked, any other succeeds (an authorization this process
// never saw, another instance's, included).
func (s *Issuer) Refund(ctx context.Context, o checkout.RefundOrder) (checkout.RefundAnswer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, seen := s.refunds[o.RefundID]
	if !seen {
		first = time.Now()
		s.refunds[o.RefundID] = first
	}
	switch s.refundAs[o.Key] {
	case CardRefundFails:
		return checkout.RefundAnswer{Status: checkout.RefundFailed, Reason: "sandbox: the issuer refused the refund"}, nil
	case CardRefundLate:
		if time.Since(first) < s.LateRefund {
			return checkout.RefundAnswer{Status: checkout.RefundPending}, nil
		}
	}
	return checkout.RefundAnswer{Status: checkout.RefundSucceeded}, nil
}

// Method is the payment method the approval under key was asked with, and
// whether there was one.
func (s *Issuer) Method(key string) (checkout.PaymentMethod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.methods[key]
	return m, ok
}

// Captured is the amount captured under key, and whether there was a capture.
func (s *Issuer) Captured(key string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	amount, ok := s.captured[key]
	return amount, ok
}

func decide(req *checkout.AuthRequest, number []byte) checkout.AuthResult {
	decline := func(reason string, check checkout.CVCCheck) checkout.AuthResult {
		return checkout.AuthResult{DeclineReason: reason, CVCCheck: check}
	}
	check := checkout.CVCUnchecked
	switch req.CVCPresence {
	case checkout.CVCNotPresent:
		// The source documents: X is for cards printed without a code. A
		// card that has one is declined, or X would bypass the check.
		if string(number) != CardWithoutCode {
			return decline(checkout.DeclineCVCRequired, checkout.CVCCheckNone)
		}
		check = checkout.CVCCheckNone
	case checkout.CVCIllegible:
		check = checkout.CVCCheckIlg
	case checkout.CVCProvided:
		want, known := knownCode[string(number)]
		switch {
		case string(number) == CardCVCMismatch:
			return decline(checkout.DeclineIncorrectCVC, checkout.CVCFail)
		case string(number) == CardWithoutCode:
			check = checkout.CVCUnchecked
		case known && subtle.ConstantTimeCompare(req.CVC, []byte(want)) != 1:
			return decline(checkout.DeclineIncorrectCVC, checkout.CVCFail)
		default:
			check = checkout.CVCPass
		}
	}
	if req.ThreeDS != nil && checkout.LiabilityShift(req.ThreeDS.Status) && req.AuthenticationValue == "" {
		// An authentication that claims Y or A must carry its value: an
		// issuer declines an ECI 05 without the CAVV that proves it.
		return decline(checkout.DeclineGeneric, check)
	}
	switch string(number) {
	case CardDeclined:
		return decline(checkout.DeclineGeneric, check)
	case CardInsufficient:
		return decline(checkout.DeclineInsufficientFunds, check)
	case CardExpiredAtIssuer:
		return decline(checkout.DeclineExpiredCard, check)
	case CardMethodRefused:
		if req.Method.Effective().Type != checkout.MethodLumpSum {
			return decline(checkout.DeclineMethodRefused, check)
		}
	}
	if req.Initiator == checkout.InitiatorMerchant {
		// A charge without its shopper must say it uses a stored card
		// that its shopper agreed to, as the schemes require.
		switch {
		case req.StoredCredential == nil || req.StoredCredential.InitialPaymentID == "":
			return decline(checkout.DeclineGeneric, check)
		case string(number) == CardMITClosed:
			return decline(checkout.DeclineCardClosed, check)
		case string(number) == CardMITNeedsCustomer:
			return decline(checkout.DeclineCustomerRequired, check)
		}
	}
	return checkout.AuthResult{Approved: true, AuthCode: authCode(), CVCCheck: check}
}

// authCodeAlphabet is the approval codes' (six characters, as issuers
// give them): letters and the digits 2 to 7, like the checkout's ids, so
// that no stored code holds a digit run that could pass for a security
// code (the leak tests look for one made of 0, 1, 8 and 9).
const authCodeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func authCode() string {
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = authCodeAlphabet[int(b[i])%len(authCodeAlphabet)]
	}
	return string(b)
}

// Reverse cancels the authorization made under key, if any.
func (s *Issuer) Reverse(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byKey[key]; ok && r.Approved {
		s.charges--
		s.reversed++
		r.Approved, r.DeclineReason = false, "reversed"
		s.byKey[key] = r
	}
	return nil
}

// Stats is what the sandbox saw, for tests and the benchmark.
type Stats struct {
	Calls    int // Authorize calls, replays included
	Charges  int // approved authorizations standing (reversals subtracted)
	Reversed int
}

// Stats returns the counters.
func (s *Issuer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Calls: s.calls, Charges: s.charges, Reversed: s.reversed}
}
