package checkout

import (
	"context"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// 3-D Secure, modelled on EMV 3-D Secure 2 (EMVCo Protocol and Core
// Functions Specification v2.2.0). The checkout plays the 3DS Requestor and
// 3DS Server: before authorization it asks the card's issuer (its Access
// Control Server, ACS) to authenticate the shopper (AReq/ARes). The ACS
// answers frictionless (Y, A, N, U, R) or asks for a challenge (C): a window
// of the issuer's, shown inside the checkout's page, where the shopper
// proves who they are (here a one-time code). The result travels to
// authorization as the ECI and the authentication value, and decides the
// liability shift: a fraud chargeback on an authenticated payment is the
// issuer's loss, not the merchant's.
//
// The security code cannot wait for a challenge: it lives in memory for one
// request only (PCI DSS 3.3.1.2), and the shopper's next request may reach
// another instance. So a challenge ends the submission that met it; once the
// shopper has answered, the page sends the card again, with its security
// code and the authentication's id, and that submission authorizes.

// ThreeDSStatus is EMV 3DS's transStatus.
type ThreeDSStatus string

// transStatus values.
const (
	ThreeDSAuthenticated ThreeDSStatus = "Y" // the issuer authenticated the shopper
	ThreeDSAttempted     ThreeDSStatus = "A" // the issuer could not authenticate but proves the attempt
	ThreeDSChallenge     ThreeDSStatus = "C" // a challenge is needed; pending until the shopper answers
	ThreeDSFailed        ThreeDSStatus = "N" // not authenticated (a wrong code, or the shopper gave up)
	ThreeDSUnavailable   ThreeDSStatus = "U" // the issuer could not authenticate, for technical reasons
	ThreeDSRejected      ThreeDSStatus = "R" // the issuer rejects the authentication and asks not to authorize
)

// Final reports whether the status ends an authentication (not C).
func (s ThreeDSStatus) Final() bool { return s != ThreeDSChallenge && s != "" }

// ProceedsToAuthorization reports whether a payment with this final status
// may be authorized: N and R mean the cardholder was not authenticated, and
// the protocol asks the requestor not to authorize.
func (s ThreeDSStatus) ProceedsToAuthorization() bool {
	return s == ThreeDSAuthenticated || s == ThreeDSAttempted || s == ThreeDSUnavailable
}

// RuleThreeDSFailed is the reason a payment whose shopper the issuer did not
// authenticate (N, R) is NG.
const RuleThreeDSFailed = "three_ds.failed"

// ThreeDSVersion is the protocol version the checkout speaks.
const ThreeDSVersion = "2.2.0"

// The challenge window: EMV challengeWindowSize 02, 390 x 400 CSS pixels,
// the size that fits a phone and the checkout's iframe alike.
const (
	ChallengeWindowSize   = "02"
	ChallengeWindowWidth  = 390
	ChallengeWindowHeight = 400
)

// Limits of a challenge.
const (
	// ThreeDSChallengeTTL is how long a shopper has to answer a challenge and send
	// the card again: the ACS's own timeout is a few minutes, and the
	// authentication value is good for one authorization only.
	ThreeDSChallengeTTL = 10 * time.Minute
	// MaxThreeDSFailures wrong codes end the challenge as N.
	MaxThreeDSFailures = 3
)

// ECI is the Electronic Commerce Indicator an authentication gives the
// authorization: the networks number it differently. Mastercard's 02 and
// 01 are Visa's (and American Express's, JCB's, Diners') 05 and 06.
func ECI(brand Brand, status ThreeDSStatus) string {
	mastercard := brand == BrandMastercard
	switch status {
	case ThreeDSAuthenticated:
		if mastercard {
			return "02"
		}
		return "05"
	case ThreeDSAttempted:
		if mastercard {
			return "01"
		}
		return "06"
	case ThreeDSChallenge, "":
		return ""
	}
	if mastercard {
		return "00"
	}
	return "07"
}

// LiabilityShift reports whether a fraud chargeback on a payment so
// authenticated is the issuer's loss: the authenticated (Y) and the
// attempted (A) ones, under the networks' rules for 3-D Secure 2.
func LiabilityShift(status ThreeDSStatus) bool {
	return status == ThreeDSAuthenticated || status == ThreeDSAttempted
}

// ThreeDS is an attempt's or a payment's 3-D Secure authentication as
// merchants see it (API, signed result, webhooks). It holds no
// authentication value: that goes to the authorization only.
type ThreeDS struct {
	AuthenticationID   string        `json:"authentication_id"` // our threeDSServerTransID
	Version            string        `json:"version"`
	Status             ThreeDSStatus `json:"status"`
	ECI                string        `json:"eci,omitempty"`
	ChallengeRequested bool          `json:"challenge_requested"` // screening asked the issuer for a challenge
	Challenged         bool          `json:"challenged"`          // the shopper answered a challenge
	LiabilityShift     bool          `json:"liability_shift"`
}

// Claim is the authentication as the signed result carries it.
func (t *ThreeDS) Claim() *verify.ThreeDS {
	if t == nil {
		return nil
	}
	return &verify.ThreeDS{AuthenticationID: t.AuthenticationID, Version: t.Version, Status: string(t.Status),
		ECI: t.ECI, ChallengeRequested: t.ChallengeRequested, Challenged: t.Challenged, LiabilityShift: t.LiabilityShift}
}

// Authentication is one 3-D Secure authentication that needed a challenge,
// kept in the store so that any instance can show the challenge, take the
// shopper's answer and let the next submission use it. It is bound to its
// session and card (the fingerprint): a submission with another card
// authenticates afresh.
type Authentication struct {
	ID                 string // "3ds_…": the 3DS Server transaction id
	SessionID          string
	MerchantID         string
	Fingerprint        string // the card's keyed fingerprint
	Brand              Brand
	ACSTransID         string // the issuer's own id of the transaction
	ChallengeRequested bool
	Status             ThreeDSStatus
	ECI                string
	// Value is the authentication value (CAVV/AAV) for the authorization;
	// cleared when the authentication is used, since it is good for one
	// authorization only.
	Value     string
	Failures  int // wrong codes entered in the challenge
	UsedBy    int // the attempt that authorized with it; 0 while unused
	CreatedAt time.Time
	ExpiresAt time.Time
}

// View is the authentication as merchants see it.
func (a Authentication) View() *ThreeDS {
	return &ThreeDS{
		AuthenticationID:   a.ID,
		Version:            ThreeDSVersion,
		Status:             a.Status,
		ECI:                a.ECI,
		ChallengeRequested: a.ChallengeRequested,
		Challenged:         true,
		LiabilityShift:     LiabilityShift(a.Status),
	}
}

// AuthenticationStore keeps authentications that needed a challenge.
type AuthenticationStore interface {
	// CreateAuthentication stores a new authentication.
	CreateAuthentication(ctx context.Context, a Authentication) error
	// Authentication returns one; ENOTFOUND when missing.
	Authentication(ctx context.Context, id string) (Authentication, error)
	// UpdateAuthentication writes a's Status, ECI, Value, Failures and
	// UsedBy in one conditional write: only if the stored one still has
	// status from and is unused (UsedBy 0). ECONFLICT otherwise (another
	// request moved it first), ENOTFOUND when missing.
	UpdateAuthentication(ctx context.Context, a Authentication, from ThreeDSStatus) error
}

// ThreeDSRequest asks the issuer to authenticate the shopper (AReq). Like an
// AuthRequest it lives in memory for one call and prints no card number.
type ThreeDSRequest struct {
	ID         string // threeDSServerTransID
	MerchantID string
	Amount     int64
	Currency   string
	PAN        PAN
	Expiry     Expiry
	// ChallengeRequested is threeDSRequestorChallengeInd 04 (challenge
	// mandated by the requestor: screening found the payment risky); else
	// 01 (no preference), and the issuer decides.
	ChallengeRequested bool
}

// ThreeDSAnswer is the issuer's answer (ARes, or the challenge's result).
type ThreeDSAnswer struct {
	Status     ThreeDSStatus
	ACSTransID string
	ECI        string
	Value      string // the authentication value; empty unless Y or A
}

// eci is the answer's ECI, or the network's for its status when the
// issuer gave none.
func (a ThreeDSAnswer) eci(brand Brand) string {
	if a.ECI != "" {
		return a.ECI
	}
	return ECI(brand, a.Status)
}

// Authenticator is the 3-D Secure directory and the issuers' ACSs behind
// it. checkout/sandbox implements it with a simulated ACS.
type Authenticator interface {
	// Authenticate sends the AReq and returns the ARes: a final status, or
	// C when the shopper must answer a challenge. Errors mean no answer;
	// the Service then goes on as U (unavailable: no liability shift).
	Authenticate(ctx context.Context, req *ThreeDSRequest) (ThreeDSAnswer, error)
	// AnswerChallenge judges the shopper's answer in the challenge window
	// (CReq/CRes): a final status, or C while another try is allowed.
	AnswerChallenge(ctx context.Context, a Authentication, code string) (ThreeDSAnswer, error)
}

// ThreeDSAction is a submission's answer when the issuer wants the
// shopper challenged: the page shows the issuer's window, then sends the
// card again with AuthenticationID.
type ThreeDSAction struct {
	AuthenticationID string
	Width, Height    int
}
