package checkout

import (
	"context"
	"time"
)

// authentication is the outcome of the 3-D Secure step of one submission.
type authentication struct {
	view   *ThreeDS       // for the attempt, the payment and the result; nil without an Authenticator
	value  string         // the authentication value for the authorization
	action *ThreeDSAction // set when the shopper must answer a challenge first
}

// authenticate is the 3-D Secure step, after screening and before
// authorization. A submission that names an authentication its shopper has
// answered uses it (once); any other asks the issuer afresh, requesting a
// challenge when screening found the payment risky. A challenge ends the
// submission with an action for the page.
func (s *Service) authenticate(ctx context.Context, co Checkout, req PayRequest, pan PAN, exp Expiry, fingerprint string, decision RiskDecision, attempt int, now time.Time) (authentication, error) {
	if s.Authenticator == nil {
		return authentication{}, nil
	}
	if req.AuthenticationID != "" {
		got, ok, err := s.answered(ctx, co, req.AuthenticationID, fingerprint, attempt, now)
		if err != nil || ok {
			return got, err
		}
	}

	id := NewID("3ds")
	actx, cancel := s.withAuthDeadline(ctx)
	defer cancel()
	ans, err := s.Authenticator.Authenticate(actx, &ThreeDSRequest{
		ID:                 id,
		MerchantID:         co.Merchant.ID,
		Amount:             co.Session.Amount,
		Currency:           co.Session.Currency,
		PAN:                pan,
		Expiry:             exp,
		ChallengeRequested: decision.ThreeDSChallenge,
	})
	if err != nil || (!ans.Status.Final() && ans.Status != ThreeDSChallenge) {
		// No answer from the directory: EMV 3DS's U. The payment goes on
		// unauthenticated, so without a liability shift; screening has
		// already judged it.
		s.log().Warn("3-D Secure unavailable; authorizing without authentication", "session", co.Session.ID, "err", err)
		ans = ThreeDSAnswer{Status: ThreeDSUnavailable}
	}
	ans.ECI = ans.eci(pan.Brand())
	view := &ThreeDS{
		AuthenticationID:   id,
		Version:            ThreeDSVersion,
		Status:             ans.Status,
		ECI:                ans.ECI,
		ChallengeRequested: decision.ThreeDSChallenge,
		LiabilityShift:     LiabilityShift(ans.Status),
	}
	if ans.Status != ThreeDSChallenge {
		return authentication{view: view, value: ans.Value}, nil // frictionless
	}
	a := Authentication{
		ID:                 id,
		SessionID:          co.Session.ID,
		MerchantID:         co.Merchant.ID,
		Fingerprint:        fingerprint,
		Brand:              pan.Brand(),
		ACSTransID:         ans.ACSTransID,
		ChallengeRequested: decision.ThreeDSChallenge,
		Status:             ThreeDSChallenge,
		CreatedAt:          now,
		ExpiresAt:          now.Add(ThreeDSChallengeTTL),
	}
	if err := s.Store.CreateAuthentication(ctx, a); err != nil {
		s.log().Error("record 3-D Secure authentication failed", "session", co.Session.ID, "err", err)
		return authentication{}, unavailable(err)
	}
	view.ECI = ""
	return authentication{view: view, action: challengeAction(a.ID)}, nil
}

// answered uses the authentication a submission names, when it is this
// session's and this card's, still valid and unused: ok is false when it is
// none of these, and the submission then authenticates afresh (a shopper who
// changed the card, or came back late, loses nothing but the challenge).
func (s *Service) answered(ctx context.Context, co Checkout, id, fingerprint string, attempt int, now time.Time) (authentication, bool, error) {
	a, err := s.Store.Authentication(ctx, id)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return authentication{}, false, nil
	case err != nil:
		return authentication{}, false, unavailable(err)
	case a.SessionID != co.Session.ID || a.Fingerprint != fingerprint || a.UsedBy != 0 || !now.Before(a.ExpiresAt):
		return authentication{}, false, nil
	case a.Status == ThreeDSChallenge:
		// Sent again before the challenge was answered: show it again.
		return authentication{view: a.View(), action: challengeAction(a.ID)}, true, nil
	}
	value := a.Value
	used := a
	used.UsedBy, used.Value = attempt, "" // good for one authorization only
	switch err := s.Store.UpdateAuthentication(ctx, used, a.Status); ErrorCode(err) {
	case "":
	case ECONFLICT:
		return authentication{}, false, nil // used meanwhile
	default:
		return authentication{}, false, unavailable(err)
	}
	return authentication{view: a.View(), value: value}, true, nil
}

func challengeAction(id string) *ThreeDSAction {
	return &ThreeDSAction{AuthenticationID: id, Width: ChallengeWindowWidth, Height: ChallengeWindowHeight}
}

// ChallengeWindow is a challenge as the issuer's window shows it.
type ChallengeWindow struct {
	Authentication Authentication
	Checkout       Checkout
}

// OpenThreeDSChallenge loads a challenge for the issuer's window. The id is
// the shopper's capability, like a session id: random and unguessable.
// ENOTFOUND when missing; a challenge already answered or expired is
// returned as it is, and the window says so.
func (s *Service) OpenThreeDSChallenge(ctx context.Context, id string) (ChallengeWindow, error) {
	a, err := s.Store.Authentication(ctx, id)
	if err != nil {
		return ChallengeWindow{}, err
	}
	co, err := s.OpenCheckout(ctx, a.SessionID)
	if err != nil {
		return ChallengeWindow{}, err
	}
	return ChallengeWindow{Authentication: a, Checkout: co}, nil
}

// AnswerThreeDSChallenge takes the shopper's answer in the issuer's window:
// the one-time code, or cancel (EMV challengeCancel: the authentication
// ends as N). It returns the authentication as it now stands: C while
// another try is allowed, else final. An answer to a challenge that is
// over (answered, used or expired) is ECONFLICT.
func (s *Service) AnswerThreeDSChallenge(ctx context.Context, id, code string, cancel bool) (Authentication, error) {
	if s.Authenticator == nil {
		return Authentication{}, &Error{Code: ENOTFOUND, Message: "no such authentication"}
	}
	a, err := s.Store.Authentication(ctx, id)
	if err != nil {
		return Authentication{}, err
	}
	if a.Status != ThreeDSChallenge || a.UsedBy != 0 || !s.now().Before(a.ExpiresAt) {
		return Authentication{}, challengeOver()
	}
	ctx = context.WithoutCancel(ctx) // an answer judged must be recorded
	var ans ThreeDSAnswer
	if cancel {
		ans = ThreeDSAnswer{Status: ThreeDSFailed}
	} else {
		actx, stop := s.withAuthDeadline(ctx)
		defer stop()
		if ans, err = s.Authenticator.AnswerChallenge(actx, a, code); err != nil {
			s.log().Error("3-D Secure challenge answer failed", "authentication", a.ID, "err", err)
			return Authentication{}, unavailable(err)
		}
	}
	next := a
	switch {
	case ans.Status == ThreeDSChallenge:
		next.Failures++
		if next.Failures >= MaxThreeDSFailures {
			ans = ThreeDSAnswer{Status: ThreeDSFailed}
		}
	case !ans.Status.Final():
		ans = ThreeDSAnswer{Status: ThreeDSUnavailable}
	}
	next.Status, next.Value = ans.Status, ans.Value
	next.ECI = ans.eci(a.Brand)
	switch err := s.Store.UpdateAuthentication(ctx, next, ThreeDSChallenge); ErrorCode(err) {
	case "":
		return next, nil
	case ECONFLICT:
		return Authentication{}, challengeOver()
	default:
		return Authentication{}, unavailable(err)
	}
}

func challengeOver() *Error {
	return &Error{Code: ECONFLICT, Message: "this verification is over; return to the payment page", MsgID: "threeds.over"}
}
