package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Why a merchant charges a saved card without its shopper (the schemes'
// stored-credential reasons).
const (
	ReasonUnscheduled = "unscheduled" // a charge the customer agreed to, at no fixed time (a top-up, a usage bill)
	ReasonRecurring   = "recurring"   // a subscription's charge, at fixed intervals
)

// Who began a payment.
const (
	InitiatorCustomer = "customer" // the shopper, on the page
	InitiatorMerchant = "merchant" // the merchant, with a saved card and no shopper (POST /v1/payments)
)

// ChargeRequest is a merchant's charge of a customer's saved card, with no
// shopper present.
type ChargeRequest struct {
	Customer string `json:"customer"`
	Card     string `json:"card,omitempty"` // a saved card's id; default: the customer's most recently used unexpired card
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	OrderID  string `json:"order_id"`
	Reason   string `json:"reason"`
}

// Validate checks a charge request against docs/API.md.
func (r ChargeRequest) Validate() error {
	if !IsID("cus", r.Customer) {
		return &Error{Code: EINVALID, Field: "customer", Message: "customer must be the id of one of your customers"}
	}
	if r.Card != "" && !IsID("card", r.Card) {
		return &Error{Code: EINVALID, Field: "card", Message: "card must be the id of one of the customer's saved cards"}
	}
	if err := checkOrder(r.Amount, r.Currency, r.OrderID); err != nil {
		return err
	}
	if r.Reason != ReasonUnscheduled && r.Reason != ReasonRecurring {
		return &Error{Code: EINVALID, Field: "reason", Message: `reason must be "unscheduled" or "recurring"`}
	}
	return nil
}

// StoredCredential says that an authorization uses a card on file without
// its shopper: why, and the payment in which the shopper agreed to keep it
// (the customer-initiated one the schemes' later charges refer to).
type StoredCredential struct {
	Reason           string
	InitialPaymentID string
}

// Charge charges a customer's saved card with no shopper present: no
// security code exists and none is asked for, and 3-D Secure is not asked
// of it; screening judges it with what it has (no address, device or
// code), NG is refused, REVIEW holds it. It is a session of its own, made
// and paid in one call: the Idempotency-Key (required) answers the same
// payment again for the same body, and the same body's decline again. The
// result is signed as a page's is.
func (s *Service) Charge(ctx context.Context, m Merchant, idempotencyKey string, req ChargeRequest) (PayResult, bool, error) {
	p, sess, replayed, err := s.charge(ctx, m, idempotencyKey, req)
	if err != nil {
		return PayResult{}, replayed, err
	}
	co := Checkout{Session: sess, Merchant: m}
	co.Session.Status, co.Session.PaymentID = SessionPaid, p.ID
	token, err := s.signResult(ctx, co, p)
	if err != nil {
		return PayResult{}, replayed, err
	}
	return PayResult{Checkout: co, Payment: p, Token: token}, replayed, nil
}

func (s *Service) charge(ctx context.Context, m Merchant, idempotencyKey string, req ChargeRequest) (p Payment, sess Session, replayed bool, err error) {
	if idempotencyKey == "" {
		return Payment{}, Session{}, false, &Error{Code: EINVALID, Field: "Idempotency-Key", Message: "a charge needs an Idempotency-Key header, so that a retry never charges twice"}
	}
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return Payment{}, Session{}, false, err
	}
	if err := req.Validate(); err != nil {
		return Payment{}, Session{}, false, err
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		return Payment{}, Session{}, false, fmt.Errorf("checkout: hash charge request: %w", err)
	}
	requestHash := sha256.Sum256(append([]byte("charge\x00"), canonical...))
	// A retry answers as the first request did, whatever changed since
	// (the card deleted, the customer gone).
	key := "charge:" + idempotencyKey
	if prior, found, err := s.Store.IdempotentSession(ctx, m.ID, key, requestHash[:], s.now()); err != nil || found {
		if err != nil {
			return Payment{}, Session{}, false, err
		}
		p, err := s.chargedBefore(ctx, prior)
		return p, prior, true, err
	}
	if err := s.requestedCustomer(ctx, m, req.Customer); err != nil {
		return Payment{}, Session{}, false, err
	}
	card, err := s.chargedCard(ctx, req)
	if err != nil {
		return Payment{}, Session{}, false, err
	}
	now := s.now()
	sess = Session{ID: NewID("cs"), MerchantID: m.ID, Amount: req.Amount, Currency: req.Currency, OrderID: req.OrderID,
		Locale: "auto", Status: SessionOpen, CreatedAt: now, ExpiresAt: now.Add(orDefault(s.SessionTTL, DefaultSessionTTL)),
		CaptureMethod: CaptureAutomatic, AuthorizationDays: DefaultAuthorizationDays, CustomerID: req.Customer}
	stored, created, err := s.Store.CreateSessionIdempotent(ctx, sess, key, requestHash[:])
	if err != nil {
		return Payment{}, Session{}, false, err
	}
	if !created {
		p, err := s.chargedBefore(ctx, stored)
		return p, stored, true, err
	}
	p, err = s.chargeSession(ctx, Checkout{Session: stored, Merchant: m}, card, req.Reason)
	return p, stored, false, err
}

// chargedCard is the saved card a charge names, or the customer's most
// recently used unexpired one.
func (s *Service) chargedCard(ctx context.Context, req ChargeRequest) (SavedCard, error) {
	cards, err := s.Store.SavedCards(ctx, req.Customer)
	if err != nil {
		return SavedCard{}, err
	}
	now := s.now()
	for _, c := range cards {
		if req.Card != "" && c.ID != req.Card {
			continue
		}
		if c.Expiry().ExpiredAt(now) {
			if req.Card != "" {
				return SavedCard{}, &Error{Code: EINVALID, Field: "card", Message: "this saved card has expired: bring the customer back to pay with the page"}
			}
			continue
		}
		return c, nil
	}
	if req.Card != "" {
		return SavedCard{}, &Error{Code: EINVALID, Field: "card", Message: "card must be the id of one of the customer's saved cards"}
	}
	return SavedCard{}, &Error{Code: EINVALID, Field: "customer", Message: "the customer has no saved card that has not expired"}
}

// chargedBefore answers a charge's Idempotency-Key again: its payment, or
// the refusal of its last attempt.
func (s *Service) chargedBefore(ctx context.Context, sess Session) (Payment, error) {
	if sess.Status == SessionPaid {
		return s.Store.Payment(ctx, sess.PaymentID)
	}
	attempts, err := s.Store.Attempts(ctx, sess.ID)
	if err != nil {
		return Payment{}, err
	}
	if n := len(attempts); n > 0 && (attempts[n-1].Outcome == AttemptDeclined || attempts[n-1].Outcome == AttemptBlocked) {
		return Payment{}, declined()
	}
	return Payment{}, &Error{Code: ECONFLICT, Message: "the first request with this Idempotency-Key is still running or did not finish; retry later, or use a new key for a new charge"}
}

// chargeSession authorizes a charge's session with the saved card.
func (s *Service) chargeSession(ctx context.Context, co Checkout, card SavedCard, reason string) (Payment, error) {
	now := s.now()
	before, err := s.Store.BeginAttempt(ctx, co.Session.ID, now, now.Add(-s.staleAfter()))
	if err != nil {
		return Payment{}, err
	}
	// What was authorized must be recorded or reversed, whatever the caller does.
	ctx = context.WithoutCancel(ctx)
	attempt := Attempt{SessionID: co.Session.ID, N: before.Attempts + 1, Brand: card.Brand, Last4: card.Last4,
		Fingerprint: card.Fingerprint, CardToken: card.CardToken, CreatedAt: now}
	pan, err := s.savedPAN(ctx, card)
	if err != nil {
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		if !errors.Is(err, errReveal) {
			return Payment{}, err
		}
		s.log().Error("revealing a saved card failed", "session", co.Session.ID, "saved_card", card.ID, "err", err)
		return Payment{}, &Error{Code: EUNAVAILABLE, Message: "the card vault is unavailable; nothing was charged, please try again shortly"}
	}
	defer pan.Wipe()
	in := ScreenInput{MerchantID: co.Merchant.ID, SessionID: co.Session.ID, Amount: co.Session.Amount, Currency: co.Session.Currency,
		Fingerprint: card.Fingerprint, BIN: pan.BIN(), Brand: card.Brand, Last4: card.Last4, ExpMonth: card.ExpMonth, ExpYear: card.ExpYear,
		Time: now}
	decision, err := s.screen(ctx, in)
	if err != nil {
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return Payment{}, unavailable(err)
	}
	attempt.Risk = &decision
	if decision.Verdict == VerdictNG {
		attempt.Outcome = AttemptBlocked
		s.finish(ctx, attempt, nil)
		return Payment{}, declined()
	}
	capture := decision.Verdict == VerdictOK
	result, err := s.authorize(ctx, &AuthRequest{
		Capture: capture, Key: attempt.IdempotencyKey(), MerchantID: co.Merchant.ID, Amount: co.Session.Amount,
		Currency: co.Session.Currency, PAN: pan, Expiry: Expiry{Month: card.ExpMonth, Year: card.ExpYear},
		Initiator: InitiatorMerchant, StoredCredential: &StoredCredential{Reason: reason, InitialPaymentID: card.InitialPaymentID},
	})
	switch {
	case err != nil && ErrorCode(err) == ETIMEOUT:
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptTimeout
		s.finish(ctx, attempt, nil)
		return Payment{}, err
	case err != nil:
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return Payment{}, &Error{Code: EUNAVAILABLE, Message: "the card could not be processed; nothing was charged, please try again"}
	}
	attempt.CVCCheck = result.CVCCheck
	after, rerr := s.rescreen(ctx, decision, in, AuthOutcome{Approved: result.Approved, DeclineReason: result.DeclineReason, CVCCheck: result.CVCCheck})
	if rerr == nil {
		attempt.Risk = &after
	}
	if !result.Approved {
		attempt.Outcome, attempt.DeclineReason = AttemptDeclined, result.DeclineReason
		s.finish(ctx, attempt, nil)
		// The merchant, not a card tester, asks: it is told why, so that it
		// knows to bring the customer back.
		return Payment{}, &Error{Code: EDECLINED, Message: "the card was declined (" + result.DeclineReason + ")"}
	}
	if rerr != nil || after.Verdict == VerdictNG {
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptReversed
		s.finish(ctx, attempt, nil)
		return Payment{}, declined()
	}
	attempt.Outcome = AttemptApproved
	status, event := PaymentSucceeded, EventPaymentAuthorized
	captured, until := co.Session.Amount, time.Time{}
	if after.Verdict == VerdictReview {
		// Held, as on the page: the merchant captures it or voids it.
		status, event, captured, until = PaymentHeld, EventReviewRequired, 0, now.AddDate(0, 0, DefaultAuthorizationDays)
	}
	payment := Payment{
		ID: NewID("pay"), SessionID: co.Session.ID, MerchantID: co.Merchant.ID, OrderID: co.Session.OrderID,
		Amount: co.Session.Amount, Currency: co.Session.Currency, Status: status,
		CardToken: card.CardToken, Brand: card.Brand, Last4: card.Last4, ExpMonth: card.ExpMonth, ExpYear: card.ExpYear,
		Fingerprint: card.Fingerprint, CVCCheck: result.CVCCheck, AuthCode: result.AuthCode,
		CaptureMethod: CaptureAutomatic, AmountCaptured: captured, AuthorizedUntil: until, Risk: &after,
		Method: PaymentMethod{}.Effective(), Initiator: InitiatorMerchant, MITReason: reason, CreatedAt: now,
	}
	events := s.events(event, payment)
	if err := s.Store.FinishAttempt(ctx, attempt, &payment, events...); err != nil {
		s.log().Error("record charge failed; reversing", "session", co.Session.ID, "err", err)
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptReversed
		s.finish(ctx, attempt, nil)
		return Payment{}, &Error{Code: EUNAVAILABLE, Message: "the charge could not be recorded and was cancelled; nothing was charged, please try again"}
	}
	s.stored(events)
	s.usedSavedCard(ctx, card, now)
	return payment, nil
}
