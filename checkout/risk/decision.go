// Package risk is the fraud screening domain: the rules that judge a payment
// before authorization (and again with the issuer's answer), the decision
// they reach (OK, REVIEW or NG) and the reasons for it.
//
// The source documents describe fraud defence as layers, because the
// security code alone guarantees nothing: 3-D Secure, behaviour and attribute
// analysis, and known bad delivery addresses. This package is the behaviour
// and attribute layer and the delivery-address layer. It is pure: no HTTP, no
// SQL. What it must remember across payments and instances comes through two
// small interfaces it consumes, Counters (sliding-window velocity) and Lists
// (blocklists); the stores implement them, MemoryCounters and MemoryLists
// serve tests and a single embedded instance.
//
// Screening fails closed: when a counter or a list cannot be read, Screen
// returns the error and no decision, and the checkout Service refuses the
// payment rather than let an unscreened one through.
//
// Reasons are for the merchant (API, signed result, webhooks), never for the
// shopper's page: a page that told a card tester which rule fired, or how
// close it came, would be an oracle.
package risk

import "github.com/hostedcheckout/hostedcheckout/checkout"

// Verdict is the outcome of screening. It is checkout's type (checkout
// owns risk decisions: they are stored on payments and signed into results);
// the alias keeps this package's vocabulary.
type Verdict = checkout.Verdict

// Verdicts.
const (
	OK     = checkout.VerdictOK     // the payment goes through
	Review = checkout.VerdictReview // authorized but held: the merchant captures or voids it
	NG     = checkout.VerdictNG     // not authorized
)

// Decision is a screening result: the verdict, the total score, and every
// score contribution as a Reason naming its rule, in the order the rules ran.
// It is what the merchant sees in the API, the signed result and webhooks.
type Decision = checkout.RiskDecision

// Reason is one rule that fired. Rule is a stable id ("velocity.ip_cards")
// merchants and dashboards may branch on; Message is merchant-facing English
// that never carries a card number, a security code, an email or an address.
type Reason = checkout.RiskReason

// decide sums the reasons and applies the merchant's thresholds.
func decide(reasons []Reason, s Settings) Decision {
	d := Decision{Verdict: OK, Reasons: reasons}
	if d.Reasons == nil {
		d.Reasons = []Reason{} // "reasons": [] rather than null in JSON
	}
	for _, r := range reasons {
		d.Score += r.Score
	}
	switch {
	case d.Score >= s.NGScore:
		d.Verdict = NG
	case d.Score >= s.ReviewScore:
		d.Verdict = Review
	}
	d.ThreeDSChallenge = d.Verdict != NG && d.Score >= s.ChallengeScore
	return d
}

// reason builds a Reason.
func reason(rule, message string, score int) Reason {
	return Reason{Rule: rule, Message: message, Score: score}
}
