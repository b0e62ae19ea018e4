package checkout

import "time"

// Event types merchants receive as webhooks.
const (
	EventPaymentAuthorized = "payment.authorized"      // approved and screened OK
	EventReviewRequired    = "payment.review_required" // approved but held by screening (REVIEW)
	EventPaymentCaptured   = "payment.captured"        // an authorized or held payment the merchant captured
	EventPaymentVoided     = "payment.voided"          // an authorized or held payment the merchant voided
	EventPaymentExpired    = "payment.expired"         // an authorization that was never captured expired, and was voided
	EventChargebackCreated = "chargeback.created"      // the card company refused payment
	EventCardUpdated       = "card.updated"            // a saved card's issuer reported a new expiry (account updater)
)

// Event is something that happened to a merchant's payment. Data is the
// JSON-ready object the webhook carries (the payment as the API shows it,
// or the chargeback); like everything stored, it holds no security code and
// no more of the card than brand, last 4 and expiry.
type Event struct {
	ID         string // "evt_...", unique; the webhook's idempotency key for the merchant
	Type       string // one of the Event* types
	MerchantID string
	Data       any
	CreatedAt  time.Time
}

// Notifier hears of events the Service stored with the change they
// describe (the outbox: a payment and its event are one transaction), so
// that delivery can start at once instead of at the next poll. Delivery
// itself (signing, retries, the log) happens elsewhere, so that a slow
// merchant endpoint never holds up a payment.
type Notifier interface {
	// Stored is called after events were committed.
	Stored(events []WebhookEvent)
}
