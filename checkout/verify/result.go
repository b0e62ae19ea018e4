// Package verify lets a merchant's server check a signed checkout result
// against the checkout's public keys (JWKS). It also defines the result's
// claims, the wire contract both sides share.
package verify

import "github.com/golang-jwt/jwt/v5"

// TokenType is the JWT "typ" header of a checkout result. A token of any
// other type (an ID token, another product's JWT) is refused, so that one
// kind of token cannot be replayed as another (RFC 8725 section 3.11).
const TokenType = "checkout-result+jwt"

// Result is the claims of a signed checkout result.
type Result struct {
	jwt.RegisteredClaims        // iss: checkout base URL; aud: merchant id; sub: payment id (deduplicate on it); iat, exp; jti: one per payment
	SessionID            string `json:"session_id"`
	OrderID              string `json:"order_id"`
	Amount               int64  `json:"amount"`
	Currency             string `json:"currency"`
	Status               string `json:"status"`
	Card                 Card   `json:"card"`
	CVCCheck             string `json:"cvc_check"`
	// Risk is the fraud screening decision. A payment whose verdict is
	// REVIEW has status "held": do not ship until it is captured.
	Risk *Risk `json:"risk,omitempty"`
	// ThreeDS is the 3-D Secure authentication. With liability_shift true,
	// a fraud chargeback on this payment is the issuer's loss.
	ThreeDS *ThreeDS `json:"three_ds,omitempty"`
	// PaymentMethod is how the shopper pays the card back (Japan's 支払方法):
	// lump sum unless the shopper chose otherwise.
	PaymentMethod PaymentMethod `json:"payment_method"`
	// Initiator is "customer" (the shopper paid on the page) or "merchant"
	// (the merchant charged a saved card, for Reason: "unscheduled" or
	// "recurring").
	Initiator string `json:"initiator"`
	Reason    string `json:"reason,omitempty"`
}

// PaymentMethod is the shopper's choice of how to pay the card back, with
// its JCCA (CAFIS) code: lump_sum "10", installments "61" with the count,
// bonus_lump_sum "21", revolving "80".
type PaymentMethod struct {
	Type         string `json:"type"`
	Installments int    `json:"installments,omitempty"` // the count, for installments only
	JCCACode     string `json:"jcca_code"`
}

// ThreeDS is the payment's 3-D Secure authentication as the result shows
// it: EMV 3DS's transStatus (Y, A, U; N and R are never authorized), the
// ECI the authorization carried, and whether the liability shifted.
type ThreeDS struct {
	AuthenticationID   string `json:"authentication_id"`
	Version            string `json:"version"`
	Status             string `json:"status"`
	ECI                string `json:"eci,omitempty"`
	ChallengeRequested bool   `json:"challenge_requested"`
	Challenged         bool   `json:"challenged"`
	LiabilityShift     bool   `json:"liability_shift"`
}

// Risk is the screening decision as the result shows it: the verdict (OK,
// REVIEW or NG), the total score and one reason per rule that fired.
type Risk struct {
	Verdict string       `json:"verdict"`
	Score   int          `json:"score"`
	Reasons []RiskReason `json:"reasons"`
}

// RiskReason is one rule that fired: its stable id, an English message for
// the merchant, and what it added to the score.
type RiskReason struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Score   int    `json:"score"`
}

// Card is the card as the result shows it: never more than brand, last 4 and expiry.
type Card struct {
	Token       string `json:"token"`
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	ExpMonth    int    `json:"exp_month"`
	ExpYear     int    `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
}
