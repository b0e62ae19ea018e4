package checkout

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// Verdict is the outcome of fraud screening, in the vocabulary of the
// screening services the source documents describe. The types of a
// screening decision live here, not in checkout/risk, because checkout owns
// risk decisions (they are stored on payments, signed into results and sent
// in webhooks) and checkout/risk, which reaches them, imports checkout.
type Verdict string

// Verdicts.
const (
	VerdictOK     Verdict = "OK"     // the payment goes through
	VerdictReview Verdict = "REVIEW" // authorized but held: the merchant captures or voids it
	VerdictNG     Verdict = "NG"     // not authorized
)

// RiskReason is one screening rule that fired. Rule is a stable id
// ("velocity.ip_cards") merchants and dashboards may branch on; Message is
// merchant-facing English that never carries a card number, a security
// code, an email or an address. Reasons never reach the shopper's page: a
// page that told a card tester which rule fired would be an oracle.
type RiskReason struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Score   int    `json:"score"`
}

// RiskDecision is a screening result: the verdict, the total score, and
// every score contribution as a RiskReason, in the order the rules ran. It
// is what the merchant sees in the API, the signed result and webhooks.
type RiskDecision struct {
	Verdict Verdict      `json:"verdict"`
	Score   int          `json:"score"`
	Reasons []RiskReason `json:"reasons"`
	// ThreeDSChallenge asks the issuer to challenge the shopper (3-D
	// Secure): the score reached the merchant's challenge threshold.
	ThreeDSChallenge bool `json:"three_ds_challenge"`
	// Platform is the same payment judged under the platform's policy,
	// which no merchant setting loosens: it decides the chargeback
	// guarantee (the platform's money), not the payment's path. nil for a
	// payment screened before the platform verdict existed.
	Platform *PlatformDecision `json:"platform"`
}

// PlatformDecision is a payment's verdict under the platform's policy: the
// same signals, counts and lists as the merchant's decision, scored by
// rules the merchant cannot change. A chargeback is covered by the
// guarantee only when this verdict, too, is OK.
type PlatformDecision struct {
	Verdict Verdict      `json:"verdict"`
	Score   int          `json:"score"`
	Reasons []RiskReason `json:"reasons"`
}

// MarshalJSON writes no reasons as [], never null: the API, results,
// webhooks and the stores' columns all read a list.
func (p PlatformDecision) MarshalJSON() ([]byte, error) {
	type plain PlatformDecision
	if p.Reasons == nil {
		p.Reasons = []RiskReason{}
	}
	return json.Marshal(plain(p))
}

// UnmarshalJSON reads what MarshalJSON writes; no reasons are [], as a
// decision made in memory has them.
func (p *PlatformDecision) UnmarshalJSON(b []byte) error {
	type plain PlatformDecision
	if err := json.Unmarshal(b, (*plain)(p)); err != nil {
		return err
	}
	if p.Reasons == nil {
		p.Reasons = []RiskReason{}
	}
	return nil
}

// Rules lists the rule ids of the reasons, in order.
func (d RiskDecision) Rules() []string {
	ids := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		ids[i] = r.Rule
	}
	return ids
}

// Has reports whether the rule fired.
func (d RiskDecision) Has(rule string) bool {
	for _, r := range d.Reasons {
		if r.Rule == rule {
			return true
		}
	}
	return false
}

// Claim is the decision as the signed result carries it (claim "risk").
func (d RiskDecision) Claim() *verify.Risk {
	reasons := make([]verify.RiskReason, len(d.Reasons))
	for i, r := range d.Reasons {
		reasons[i] = verify.RiskReason{Rule: r.Rule, Message: r.Message, Score: r.Score}
	}
	return &verify.Risk{Verdict: string(d.Verdict), Score: d.Score, Reasons: reasons}
}

// unscreened is the decision of a Service without a Screener: OK, nothing
// fired. Production wiring always sets a Screener.
func unscreened() RiskDecision {
	return RiskDecision{Verdict: VerdictOK, Reasons: []RiskReason{}}
}

// ScreenInput is what is known of a payment before authorization. It holds
// no card number and no security code: the card is its keyed fingerprint,
// its BIN and last 4 (PCI DSS 3.4.1 allows the first six and last four), its
// brand and expiry, and what the shopper said about the code.
type ScreenInput struct {
	MerchantID string `json:"merchant_id"`
	SessionID  string `json:"session_id"`
	Amount     int64  `json:"amount"` // in the currency's minor unit
	Currency   string `json:"currency"`

	Fingerprint string      `json:"card_fingerprint"` // the vault's keyed HMAC of the number; required
	BIN         string      `json:"bin"`              // first 6 (or 8) digits
	Brand       Brand       `json:"brand"`
	Last4       string      `json:"last4"`
	ExpMonth    int         `json:"exp_month"`
	ExpYear     int         `json:"exp_year"`
	CVC         CVCPresence `json:"cvc_presence"` // provided, or X / I

	Email    string     `json:"customer_email,omitempty"`
	Shipping *Address   `json:"shipping_address,omitempty"`
	IP       netip.Addr `json:"ip"`                  // the shopper's address as the web layer trusts it
	DeviceID string     `json:"device_id,omitempty"` // the device cookie's value; empty when the shopper has none

	Time time.Time `json:"time"` // when the shopper submitted; required
}

// AuthOutcome is the issuer's answer, for the second screening (Rescreen)
// and the failed-authorization counts.
type AuthOutcome struct {
	Approved      bool     `json:"approved"`
	DeclineReason string   `json:"decline_reason,omitempty"` // one of the Decline* reasons
	CVCCheck      CVCCheck `json:"cvc_check"`
}

// Screener judges payments for fraud. checkout/risk implements it over the
// store's counters, blocklists and per-merchant settings.
type Screener interface {
	// Screen judges a payment before authorization and counts the attempt
	// for later ones. Any error means no decision: the Service refuses the
	// payment with EUNAVAILABLE and authorizes nothing (screening fails
	// closed).
	Screen(ctx context.Context, in ScreenInput) (RiskDecision, error)
	// Rescreen judges it again with the issuer's answer (security code
	// mismatch, decline) and counts a decline against the card. It never
	// lowers prev's verdict. An error means no decision; after an approval
	// the Service reverses the authorization.
	Rescreen(ctx context.Context, prev RiskDecision, in ScreenInput, out AuthOutcome) (RiskDecision, error)
	// RecordExpired counts a card refused because it expired long ago (a
	// list of old stolen numbers being worked through); in has no
	// fingerprint, since such a card is never tokenized. Errors are logged
	// only: the shopper is refused either way.
	RecordExpired(ctx context.Context, in ScreenInput) error
}
