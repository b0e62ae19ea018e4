package checkout

import (
	"context"
	"encoding/base32"
	"errors"
	"net/netip"
	"time"
)

// Card-testing defence: the rate limits and the security-code lockout that
// run before a card reaches the issuer. checkout/risk implements Guard over
// the store's counters, card locks and lockout slots, so that every
// instance sees every other instance's attempts.

// Guard rule ids: the reason a merchant sees on an attempt refused by the
// card-testing defence. They never reach the shopper's page.
const (
	RuleLockoutCVC        = "lockout.cvc"          // the card is locked after repeated wrong security codes
	RuleLockoutPending    = "lockout.cvc_pending"  // the card's wrong-code budget is taken by authorizations in flight
	RuleRateLimitIP       = "ratelimit.ip"         // too many attempts from the shopper's IP
	RuleRateLimitSession  = "ratelimit.session"    // too many attempts on the session
	RuleRateLimitMerchant = "ratelimit.merchant"   // too many attempts at the merchant within its window (a minute by default)
	RuleRateLimitCard     = "ratelimit.card"       // too many attempts with the card
	RuleRateLimitChunk    = "ratelimit.card_chunk" // too many different numbers sharing their first 12 digits
)

// AttemptRateLimited is the outcome of an attempt refused by a rate limit:
// it never reached the issuer.
const AttemptRateLimited = "rate_limited"

// GuardInput is what the card-testing defence knows of a submission. It
// holds no card number: the card is its keyed fingerprint, and the first 12
// digits only as a MAC under the vault's key (Chunk), so no fragment of the
// number beyond what PCI DSS allows is stored.
type GuardInput struct {
	MerchantID  string
	SessionID   string
	IP          netip.Addr
	Fingerprint string // the vault's keyed fingerprint of the number
	Chunk       string // MAC of the number's first 12 digits; "" for shorter numbers
	Time        time.Time
	// Attempt is the attempt's key (session:n), naming the authorization's
	// slot in the lockout's budget (Reserve, Settle).
	Attempt string
	// Completes is set when the submission completes a 3-D Secure
	// challenge: it names an answered, unused authentication of this
	// session and this card, whose challenge was an attempt counted
	// already. The rate limits do not count it again (issue 9: a shopper
	// challenged three times an hour met the per-card limit); the lockout
	// still applies, since the issuer checks its security code.
	Completes bool
}

// GuardVerdict is the card-testing defence's answer. Rule is "" when the
// submission may proceed; otherwise one of the Rule* ids above. Locked
// distinguishes a locked card (answered as the one decline, exactly as a
// dead number's) from a rate limit (answered as rate_limited, the same
// whatever limit tripped).
type GuardVerdict struct {
	Rule   string
	Locked bool
}

// Guard is the card-testing defence the Service consumes.
type Guard interface {
	// Admit counts the submission and decides whether it may go on to
	// screening and the issuer. Errors mean no decision: the Service
	// refuses the payment (EUNAVAILABLE), failing closed.
	Admit(ctx context.Context, in GuardInput) (GuardVerdict, error)
	// Reserve takes one slot of the card's wrong-code budget for the
	// authorization in.Attempt just before it is sent to the issuer,
	// atomically per card on every instance, so that at most the
	// threshold's number of wrong codes reach the issuer however many
	// arrive at once. A verdict with Locked refuses it: the card is
	// locked, or failures and authorizations in flight fill its budget. An
	// unsettled slot counts until until. Errors mean no decision: the
	// Service refuses the payment (EUNAVAILABLE).
	Reserve(ctx context.Context, in GuardInput, until time.Time) (GuardVerdict, error)
	// Settle ends the slot once the issuer answered: wrongCode (the
	// issuer's cvc_check fail or an incorrect_cvc decline) makes it a
	// failure and locks the card at the operator's threshold; otherwise it
	// is released. Errors are logged: the slot then counts until it ends.
	Settle(ctx context.Context, in GuardInput, wrongCode bool) error
}

// CardKeys derive the keyed values the Guard counts by beside the card's
// fingerprint (the Tokenizer's). vault.Vault implements it.
type CardKeys interface {
	// MAC is HMAC-SHA256 of msg under a key derived for purpose.
	MAC(purpose string, msg []byte) []byte
}

// rateLimited is the shopper's answer to every rate limit: the same
// whatever limit tripped, so the page tells a card tester nothing of the
// thresholds.
func rateLimited() *Error {
	return &Error{Code: ERATELIMITED, Message: "Too many attempts. Please wait and try again.", MsgID: "pay.rate_limited"}
}

// guardReason is the merchant-facing reason for a Guard refusal.
func guardReason(rule string) RiskReason {
	msg := map[string]string{
		RuleLockoutCVC:        "The card is locked after repeated wrong security codes; it was not sent to the issuer.",
		RuleLockoutPending:    "Other payments with this card, awaiting the issuer's answer, take all the wrong security codes it may have; it was not sent to the issuer.",
		RuleRateLimitIP:       "Too many attempts from the shopper's IP address; it was not sent to the issuer.",
		RuleRateLimitSession:  "Too many attempts on this checkout session; it was not sent to the issuer.",
		RuleRateLimitMerchant: "Too many attempts at this shop within its limit's window (card_testing.merchant); it was not sent to the issuer.",
		RuleRateLimitCard:     "Too many attempts with this card; it was not sent to the issuer.",
		RuleRateLimitChunk:    "Too many different card numbers sharing their first 12 digits (card testing); it was not sent to the issuer.",
	}[rule]
	if msg == "" {
		msg = "Refused by the card-testing defence; it was not sent to the issuer."
	}
	return RiskReason{Rule: rule, Message: msg, Score: 100}
}

// guardInput is what the card-testing defence knows of a submission, the
// card by its vault fingerprint; the zero input without a Guard. An error
// (whether it completes a 3-D Secure challenge could not be read) is the
// shopper's answer; nothing has begun.
func (s *Service) guardInput(ctx context.Context, co Checkout, req PayRequest, pan PAN, fingerprint string, now time.Time) (GuardInput, error) {
	if s.Guard == nil || s.CardKeys == nil {
		return GuardInput{}, nil
	}
	digits := pan.Reveal()
	in := GuardInput{
		MerchantID:  co.Merchant.ID,
		SessionID:   co.Session.ID,
		IP:          req.ClientIP,
		Fingerprint: fingerprint,
		Time:        now,
	}
	if len(digits) > 12 {
		// The first 12 digits only as a keyed MAC: the BIN (6 or 8) is
		// what PCI DSS 3.4.1 lets us keep of the number in the clear.
		in.Chunk = "chunk:" + hashEncoding.EncodeToString(s.CardKeys.MAC("card-chunk", digits[:12])[:16])
	}
	completes, err := s.completes(ctx, co, req, in.Fingerprint, now)
	if err != nil {
		return in, err
	}
	in.Completes = completes
	return in, nil
}

// AdmittingScreener is a Screener that also runs the Guard's Admit, in the
// same round trip of the counters (risk.Screener): the Service then counts
// a submission once before its card is stored.
type AdmittingScreener interface {
	AdmitAndScreen(ctx context.Context, g Guard, gin GuardInput, in ScreenInput) (GuardVerdict, RiskDecision, error)
}

// AttemptBegin is what beginning an attempt needs (Store.BeginAttempt's
// arguments).
type AttemptBegin struct {
	SessionID   string
	Now         time.Time
	StaleBefore time.Time
}

// BeginningScreener is an AdmittingScreener that can also begin the attempt
// in that round trip, when the store keeps the sessions beside the counters
// (risk.Screener over a risk.RoundTripper): one write where there were two.
type BeginningScreener interface {
	// CanBegin says whether BeginAdmitAndScreen can, with this Guard.
	CanBegin(g Guard) bool
	// BeginAdmitAndScreen is Store.BeginAttempt, then AdmitAndScreen, in
	// one round trip. begun says whether the attempt began (before is the
	// session as it was): when it did not, err is why (a refusal, or a
	// failure before or of the round trip). When it did, err is the
	// defence's or screening's failure to decide (fail closed). With
	// nearLimit, a session or an IP near its limit (the challenge's rule)
	// refuses the round first: ErrNearLimit, not begun.
	BeginAdmitAndScreen(ctx context.Context, b AttemptBegin, g Guard, gin GuardInput, in ScreenInput, nearLimit bool) (before Session, begun bool, v GuardVerdict, d RiskDecision, err error)
}

// screened is a begun attempt's card-testing verdict and screening
// decision, or err, their failure to decide.
type screened struct {
	before   Session // the session before the attempt began
	verdict  GuardVerdict
	decision RiskDecision
	err      error
}

// roundScreener is the Screener when it begins attempts in its round with
// this Service's Guard (BeginningScreener, with the card keys the Guard's
// input needs).
func (s *Service) roundScreener() (BeginningScreener, bool) {
	bs, ok := s.Screener.(BeginningScreener)
	return bs, ok && s.Guard != nil && s.CardKeys != nil && bs.CanBegin(s.Guard)
}

// beginAndScreen begins the attempt, then runs the card-testing defence and
// screening on it: in one round trip when the Screener and the store can
// (roundScreener), else BeginAttempt and admitAndScreen one after the
// other. nearLimitInRound (only ever set when the round can, by challenge)
// asks the round the challenge's near-limit rule first. An error means the
// attempt did not begin.
func (s *Service) beginAndScreen(ctx context.Context, b AttemptBegin, gin GuardInput, in ScreenInput, nearLimitInRound bool) (screened, error) {
	if bs, ok := s.roundScreener(); ok {
		before, begun, v, d, err := bs.BeginAdmitAndScreen(ctx, b, s.Guard, gin, in, nearLimitInRound)
		if !begun {
			if errors.Is(err, ErrNearLimit) {
				err = challengeRequired()
			}
			return screened{}, err
		}
		return screened{before: before, verdict: v, decision: d, err: err}, nil
	}
	before, err := s.Store.BeginAttempt(ctx, b.SessionID, b.Now, b.StaleBefore)
	if err != nil {
		return screened{}, err
	}
	v, d, err := s.admitAndScreen(context.WithoutCancel(ctx), gin, in)
	return screened{before: before, verdict: v, decision: d, err: err}, nil
}

// admitAndScreen runs the card-testing defence (with a Guard) and, for an
// admitted submission, screening: in one round trip when the Screener can,
// else one after the other. An error is no decision of either: the
// Service refuses the payment, failing closed.
func (s *Service) admitAndScreen(ctx context.Context, gin GuardInput, in ScreenInput) (GuardVerdict, RiskDecision, error) {
	if s.Guard == nil || gin.Fingerprint == "" {
		d, err := s.screen(ctx, in)
		return GuardVerdict{}, d, err
	}
	if as, ok := s.Screener.(AdmittingScreener); ok {
		return as.AdmitAndScreen(ctx, s.Guard, gin, in)
	}
	return AdmitThenScreen(ctx, s.Guard, gin, in, s.screen)
}

// AdmitThenScreen is the Guard's Admit and, for an admitted submission,
// screen: two round trips, for a Guard and a screening that cannot count
// in one.
func AdmitThenScreen(ctx context.Context, g Guard, gin GuardInput, in ScreenInput,
	screen func(context.Context, ScreenInput) (RiskDecision, error)) (GuardVerdict, RiskDecision, error) {
	v, err := g.Admit(ctx, gin)
	if err != nil || v.Rule != "" {
		return v, RiskDecision{}, err
	}
	d, err := screen(ctx, in)
	return v, d, err
}

// refuse finishes an attempt the card-testing defence refused (outcome
// blocked for a locked card, rate_limited for a limit, with the rule as its
// reason for the merchant) and returns the shopper's error.
func (s *Service) refuse(ctx context.Context, co Checkout, v GuardVerdict, attempt *Attempt) error {
	d := RiskDecision{Verdict: VerdictNG, Score: 100, Reasons: []RiskReason{guardReason(v.Rule)}}
	attempt.Risk = &d
	s.log().Info("payment refused by the card-testing defence", "session", co.Session.ID, "rule", v.Rule)
	if v.Locked {
		// A locked card is not sent to the issuer at all, and is answered
		// exactly as any decline: a lock follows only wrong codes, which an
		// issuer reports only for an account it knows, so an answer of its
		// own would tell a card tester the number is live (issue 9). The
		// decline's message tells the shopper to call the issuer if it keeps
		// happening; the merchant sees the rule on the attempt.
		attempt.Outcome = AttemptBlocked
		s.finish(ctx, *attempt, nil)
		return declined()
	}
	attempt.Outcome = AttemptRateLimited
	s.finish(ctx, *attempt, nil)
	return rateLimited()
}

// completes reports whether the submission completes a 3-D Secure
// challenge: it names an authentication of this session and this card
// (keyed fingerprint), answered and unused, so the same attempt as the one
// that met the challenge. Anything else (no such id, another session's or
// card's, used, expired, unanswered) is an ordinary submission, counted.
func (s *Service) completes(ctx context.Context, co Checkout, req PayRequest, fingerprint string, now time.Time) (bool, error) {
	if req.AuthenticationID == "" || s.Authenticator == nil || !IsID("3ds", req.AuthenticationID) {
		return false, nil
	}
	a, err := s.Store.Authentication(ctx, req.AuthenticationID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return false, nil
	case err != nil:
		s.log().Error("read 3-D Secure authentication failed; payment refused", "session", co.Session.ID, "err", err)
		return false, unavailable(err)
	}
	return a.SessionID == co.Session.ID && a.Fingerprint == fingerprint && a.UsedBy == 0 &&
		now.Before(a.ExpiresAt) && a.Status.Final(), nil
}

// reserve takes the authorization's slot in the card's wrong-code budget,
// just before it goes to the issuer. A refusal is finished on the attempt
// (blocked, the rule its reason for the merchant) and answered as the one
// decline, exactly like a locked card (no oracle). ok is false when the
// payment must stop, with err its answer.
func (s *Service) reserve(ctx context.Context, in *GuardInput, attempt *Attempt, decision RiskDecision) (ok bool, err error) {
	if s.Guard == nil || in.Fingerprint == "" {
		return true, nil
	}
	in.Attempt = attempt.IdempotencyKey()
	// An unsettled slot (its request died) counts until well past any
	// authorization deadline and reversal: the safe side.
	v, err := s.Guard.Reserve(ctx, *in, in.Time.Add(s.staleAfter()))
	if err != nil {
		s.log().Error("card-testing defence failed; payment refused", "session", in.SessionID, "err", err)
		attempt.Outcome = AttemptError
		s.finish(ctx, *attempt, nil)
		return false, unavailable(err)
	}
	if v.Rule == "" {
		return true, nil
	}
	s.log().Info("payment refused by the card-testing defence", "session", in.SessionID, "rule", v.Rule)
	decision.Verdict, decision.Score = VerdictNG, 100
	decision.Reasons = append(append([]RiskReason(nil), decision.Reasons...), guardReason(v.Rule))
	attempt.Risk = &decision
	attempt.Outcome = AttemptBlocked
	s.finish(ctx, *attempt, nil)
	return false, declined()
}

// settle ends the authorization's slot with the issuer's answer; a failure
// is logged (the shopper's answer is decided already, and an unsettled slot
// counts until it ends).
//
// Only a wrong code writes here: any other answer leaves the reservation for
// the attempt's FinishAttempt to end, in the transaction that records the
// outcome (one commit fewer per payment). A crash in between leaves it to
// expire at its deadline, as a crash before settling always did.
func (s *Service) settle(ctx context.Context, in GuardInput, wrongCode bool) {
	if s.Guard == nil || in.Attempt == "" || !wrongCode {
		return
	}
	if err := s.Guard.Settle(ctx, in, wrongCode); err != nil {
		s.log().Error("settle security code slot failed", "session", in.SessionID, "err", err)
	}
}

// hashEncoding is the alphabet of the checkout's ids (a-z, 2-7): no digit
// run in a stored key can pass for a card number or a security code.
var hashEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
