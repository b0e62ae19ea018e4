package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Refund statuses.
const (
	RefundPending   = "pending"   // sent to the issuer (or about to be); no final answer yet
	RefundSucceeded = "succeeded" // the issuer returned the money to the card
	RefundFailed    = "failed"    // the issuer refused it; its amount may be refunded again
)

// Refund reasons a merchant may give.
const (
	RefundRequestedByCustomer = "requested_by_customer"
	RefundDuplicate           = "duplicate"
	RefundFraudulent          = "fraudulent"
)

// maxRefundNote is the length of a refund's free-text note, in characters.
const maxRefundNote = 500

// Refund returns part or all of a captured payment to the card. While
// pending, its amount counts as refunded (so that refunds in flight can
// never together exceed what was captured); a failed one gives it back.
type Refund struct {
	ID            string // "re_..."
	PaymentID     string
	MerchantID    string
	Amount        int64
	Currency      string
	Reason        string // one of the Refund* reasons, or empty
	Note          string // the merchant's own words, at most 500 characters
	Status        string
	FailureReason string // the issuer's answer when it failed
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// RefundView is a refund as merchants see it, in the API and webhooks.
type RefundView struct {
	ID            string `json:"id"`
	Object        string `json:"object"` // "refund"
	PaymentID     string `json:"payment_id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Reason        string `json:"reason,omitempty"`
	Note          string `json:"note,omitempty"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason,omitempty"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

// View is the refund as merchants see it.
func (r Refund) View() RefundView {
	return RefundView{ID: r.ID, Object: "refund", PaymentID: r.PaymentID, Amount: r.Amount, Currency: r.Currency,
		Reason: r.Reason, Note: r.Note, Status: r.Status, FailureReason: r.FailureReason,
		CreatedAt: r.CreatedAt.UTC().Truncate(time.Second).Format(time.RFC3339),
		UpdatedAt: r.UpdatedAt.UTC().Truncate(time.Second).Format(time.RFC3339)}
}

// RefundRequest is what a merchant sends to refund a payment.
type RefundRequest struct {
	// Amount is what to refund; nil refunds all that remains.
	Amount *int64 `json:"amount,omitempty"`
	Reason string `json:"reason,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Validate checks the request (the amount against the payment is the
// store's to check, under its lock).
func (r RefundRequest) Validate() error {
	if r.Amount != nil && *r.Amount < 1 {
		return &Error{Code: EINVALID, Field: "amount", Message: "amount must be a positive integer in the currency's minor unit"}
	}
	switch r.Reason {
	case "", RefundRequestedByCustomer, RefundDuplicate, RefundFraudulent:
	default:
		return &Error{Code: EINVALID, Field: "reason", Message: `reason must be "requested_by_customer", "duplicate" or "fraudulent"`}
	}
	if utf8.RuneCountInString(r.Note) > maxRefundNote || !printable(r.Note) {
		return &Error{Code: EINVALID, Field: "note", Message: fmt.Sprintf("note must be at most %d printable characters", maxRefundNote)}
	}
	if CardNumberShaped.MatchString(r.Note) {
		// Staff paste what they have: a card number kept in a note would be
		// readable at rest.
		return &Error{Code: EINVALID, Field: "note", Message: "note must not hold a card number (12 or more digits in a row)"}
	}
	return nil
}

// RefundAmount decides a refund of amount (0: all that remains) against
// its payment and what was charged back of it, as a store reads them under
// its lock: the amount to refund, or the error the merchant hears.
func RefundAmount(p Payment, chargedBack, amount int64) (int64, error) {
	switch p.Status {
	case PaymentSucceeded, PaymentCaptured:
	case PaymentRefunded:
		return 0, &Error{Code: ECONFLICT, Message: "this payment is refunded in full already"}
	default:
		return 0, &Error{Code: ECONFLICT, Message: "only a captured payment can be refunded; this one is " + p.Status}
	}
	left := p.Remaining(chargedBack)
	if left <= 0 {
		return 0, &Error{Code: ECONFLICT, Message: "nothing of this payment remains to refund: it was refunded or charged back in full"}
	}
	if amount == 0 {
		return left, nil
	}
	if amount > left {
		return 0, &Error{Code: EINVALID, Field: "amount", Message: fmt.Sprintf(
			"amount must be at most %d: the %d captured less %d refunded (pending refunds included) and %d charged back",
			left, p.AmountCaptured, p.AmountRefunded, chargedBack)}
	}
	return amount, nil
}

// RefundStore keeps refunds and the amounts they take from their payment.
type RefundStore interface {
	// CreateRefund stores r, pending, and adds its amount to the payment's
	// refunded amount, in one transaction, only if the payment is
	// succeeded or captured and its refundable remainder (captured, less
	// refunded or pending, less charged back) covers it: ECONFLICT
	// otherwise. r.Amount 0 takes the whole remainder (ECONFLICT when
	// nothing remains). With key, the same key and requestHash answer the
	// refund stored under it (created false), another hash EIDEMPOTENCY;
	// keys are the merchant's and kept IdempotencyKeyTTL.
	CreateRefund(ctx context.Context, r Refund, key string, requestHash []byte) (stored Refund, created bool, err error)
	// SettleRefund ends a pending refund: succeeded (its payment becomes
	// refunded once nothing captured remains) or failed (its amount is
	// given back to the remainder), with events in the same transaction,
	// only while it is pending: ECONFLICT otherwise (another instance
	// settled it), ENOTFOUND when missing.
	SettleRefund(ctx context.Context, id, status, failureReason string, at time.Time, events ...WebhookEvent) (Refund, error)
	// Refund returns one refund; ENOTFOUND when missing.
	Refund(ctx context.Context, id string) (Refund, error)
	// Refunds returns a payment's refunds, oldest first.
	Refunds(ctx context.Context, paymentID string) ([]Refund, error)
	// PendingRefunds returns up to limit refunds pending since before
	// before, oldest first.
	PendingRefunds(ctx context.Context, before time.Time, limit int) ([]Refund, error)
}

// RefundOrder asks the issuer to refund part of a captured authorization.
type RefundOrder struct {
	Key      string // the authorization's key (Attempt.IdempotencyKey)
	RefundID string // the refund's id: the same id again answers the same refund
	Amount   int64
}

// RefundAnswer is the issuer's answer: RefundSucceeded, RefundFailed
// (with Reason) or RefundPending (ask again later with the same order).
type RefundAnswer struct {
	Status string
	Reason string
}

// Event types of refunds.
const (
	EventRefundSucceeded = "refund.succeeded"
	EventRefundFailed    = "refund.failed"
)

// RefundPayment refunds one of the merchant's captured payments, in full
// (no amount) or in part, several times up to what was captured (less
// chargebacks). The refund is stored pending, with its amount taken from
// what remains, before the issuer hears of it; the issuer's answer settles
// it (refund.succeeded or refund.failed), or, pending, a later sweep does
// (SettlePendingRefunds). With an Idempotency-Key the same request answers
// the same refund (replayed true).
func (s *Service) RefundPayment(ctx context.Context, m Merchant, paymentID, idempotencyKey string, req RefundRequest) (Refund, bool, error) {
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return Refund{}, false, err
	}
	if err := req.Validate(); err != nil {
		return Refund{}, false, err
	}
	p, err := s.Payment(ctx, m, paymentID)
	if err != nil {
		return Refund{}, false, err
	}
	canonical, err := json.Marshal(struct {
		Payment string `json:"payment"`
		RefundRequest
	}{paymentID, req})
	if err != nil {
		return Refund{}, false, fmt.Errorf("checkout: hash refund request: %w", err)
	}
	hash := sha256.Sum256(canonical)
	now := s.now()
	r := Refund{ID: NewID("re"), PaymentID: p.ID, MerchantID: m.ID, Currency: p.Currency,
		Reason: req.Reason, Note: req.Note, Status: RefundPending, CreatedAt: now, UpdatedAt: now}
	if req.Amount != nil {
		r.Amount = *req.Amount
	}
	ctx = context.WithoutCancel(ctx) // a refund sent to the issuer must be recorded, even if the merchant hangs up
	stored, created, err := s.Store.CreateRefund(ctx, r, idempotencyKey, hash[:])
	if err != nil || !created {
		return stored, !created && err == nil, err
	}
	settled, err := s.askRefund(ctx, p, stored)
	return settled, false, err
}

// askRefund sends a pending refund to the issuer and settles it with a
// final answer. An issuer that cannot answer leaves it pending: the sweep
// asks again.
func (s *Service) askRefund(ctx context.Context, p Payment, r Refund) (Refund, error) {
	key, err := s.authorizationKey(ctx, p)
	if err != nil {
		return r, err
	}
	rctx, cancel := s.withAuthDeadline(ctx)
	ans, err := s.Authorizer.Refund(rctx, RefundOrder{Key: key, RefundID: r.ID, Amount: r.Amount})
	cancel()
	if err != nil {
		s.log().Warn("refund not answered; it stays pending and is asked again", "refund", r.ID, "err", err)
		return r, nil
	}
	switch ans.Status {
	case RefundSucceeded, RefundFailed:
	case RefundPending:
		return r, nil
	default:
		return r, fmt.Errorf("checkout: refund %s: the issuer answered %q", r.ID, ans.Status)
	}
	event := EventRefundSucceeded
	if ans.Status == RefundFailed {
		event = EventRefundFailed
	}
	next := r
	next.Status, next.FailureReason, next.UpdatedAt = ans.Status, ans.Reason, s.now()
	e, err := NewWebhookEvent(Event{Type: event, MerchantID: r.MerchantID, Data: next.View(), CreatedAt: next.UpdatedAt}, next.UpdatedAt)
	if err != nil {
		return r, err
	}
	events := []WebhookEvent{e}
	got, err := s.Store.SettleRefund(ctx, r.ID, ans.Status, ans.Reason, next.UpdatedAt, events...)
	if ErrorCode(err) == ECONFLICT {
		// Another instance settled it first: answer how.
		return s.Store.Refund(ctx, r.ID)
	}
	if err != nil {
		return r, err
	}
	s.stored(events)
	return got, nil
}

// refundAge is how long a refund stays pending before the sweep asks the
// issuer again: past the request that created it.
const refundAge = 5 * time.Second

// SettlePendingRefunds asks the issuer again about the refunds pending
// since before refundAge ago and settles those it has answered; several
// instances may ask at once (the issuer answers one refund id the same),
// and one of them settles each. It returns how many it settled.
func (s *Service) SettlePendingRefunds(ctx context.Context) (int, error) {
	pending, err := s.Store.PendingRefunds(ctx, s.now().Add(-refundAge), expiryBatch)
	if err != nil {
		return 0, err
	}
	settled := 0
	for _, r := range pending {
		p, err := s.Store.Payment(ctx, r.PaymentID)
		if err != nil {
			return settled, err
		}
		got, err := s.askRefund(ctx, p, r)
		if err != nil && !errors.Is(err, context.Canceled) {
			return settled, err
		}
		if got.Status != RefundPending {
			settled++
		}
	}
	return settled, nil
}

// PaymentRefunds lists one of the merchant's payments' refunds.
func (s *Service) PaymentRefunds(ctx context.Context, m Merchant, paymentID string) ([]Refund, error) {
	if _, err := s.Payment(ctx, m, paymentID); err != nil {
		return nil, err
	}
	return s.Store.Refunds(ctx, paymentID)
}
