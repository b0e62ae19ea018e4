package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// 3-D Secure test cards (docs/API.md). Any other card is authenticated
// frictionless (Y), unless screening asks for a challenge: then the
// sandbox issuer challenges it, as a real one may.
const (
	Card3DSChallenge           = "4000000000003063" // Visa: the issuer always challenges
	Card3DSChallengeMastercard = "5200000000001096"
	Card3DSChallengeAmex       = "340000000000009"
	Card3DSAttempted           = "4000000000003089" // A: attempted, ECI 06, liability shift
	Card3DSUnavailable         = "4000000000003055" // U: the issuer cannot authenticate; no liability shift
	Card3DSFailed              = "4000000000003097" // N: not authenticated; never authorized
	Card3DSRejected            = "4000000000003071" // R: rejected; never authorized

	// ChallengeCode is the one-time code the sandbox issuer's challenge
	// accepts; any other code is wrong.
	ChallengeCode = "123456"
)

var frictionless = map[string]checkout.ThreeDSStatus{
	Card3DSAttempted:   checkout.ThreeDSAttempted,
	Card3DSUnavailable: checkout.ThreeDSUnavailable,
	Card3DSFailed:      checkout.ThreeDSFailed,
	Card3DSRejected:    checkout.ThreeDSRejected,
}

var alwaysChallenge = map[string]bool{
	Card3DSChallenge:           true,
	Card3DSChallengeMastercard: true,
	Card3DSChallengeAmex:       true,
}

// ACS is the sandbox's 3-D Secure directory and issuer Access Control
// Server: an Authenticator that answers by card number as docs/API.md
// lists, and whose challenge is a one-time code (ChallengeCode). It keeps
// no state: the checkout stores the challenge, so any instance serves it.
type ACS struct{}

var _ checkout.Authenticator = ACS{}

// Authenticate answers the AReq: a frictionless status, or C for a
// challenge when the card always needs one or the requestor asked for one.
func (ACS) Authenticate(ctx context.Context, req *checkout.ThreeDSRequest) (checkout.ThreeDSAnswer, error) {
	if err := ctx.Err(); err != nil {
		return checkout.ThreeDSAnswer{}, err
	}
	number := string(req.PAN.Reveal())
	status, fixed := frictionless[number]
	switch {
	case fixed:
	case alwaysChallenge[number] || req.ChallengeRequested:
		status = checkout.ThreeDSChallenge
	default:
		status = checkout.ThreeDSAuthenticated
	}
	return answer(req.PAN.Brand(), status), nil
}

// AnswerChallenge accepts ChallengeCode and nothing else; a wrong code
// leaves the challenge open (C) for the checkout to count.
func (ACS) AnswerChallenge(ctx context.Context, a checkout.Authentication, code string) (checkout.ThreeDSAnswer, error) {
	if err := ctx.Err(); err != nil {
		return checkout.ThreeDSAnswer{}, err
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(ChallengeCode)) != 1 {
		return checkout.ThreeDSAnswer{Status: checkout.ThreeDSChallenge, ACSTransID: a.ACSTransID}, nil
	}
	ans := answer(a.Brand, checkout.ThreeDSAuthenticated)
	ans.ACSTransID = a.ACSTransID
	return ans, nil
}

// answer is an ARes or a challenge's result with the status's ECI and, for
// Y and A, an authentication value (20 random bytes, as a CAVV is).
func answer(brand checkout.Brand, status checkout.ThreeDSStatus) checkout.ThreeDSAnswer {
	ans := checkout.ThreeDSAnswer{Status: status, ACSTransID: checkout.NewID("acs"), ECI: checkout.ECI(brand, status)}
	if checkout.LiabilityShift(status) {
		v := make([]byte, 20)
		rand.Read(v)
		ans.Value = base64.StdEncoding.EncodeToString(v)
	}
	return ans
}
