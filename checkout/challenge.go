package checkout

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// The challenge step for suspicious traffic: a hashcash-style proof of work
// the page solves in the shopper's browser (crypto.subtle.digest), with no
// third-party service. It costs a shopper well under a second once, and a
// card tester that much for every attempt past the first signs, which is
// what makes testing thousands of cards expensive.

// Challenge defaults.
const (
	DefaultChallengeBits = 14              // ~16k SHA-256 on average: < 1 s on a phone's crypto.subtle
	DefaultChallengeTTL  = 2 * time.Minute // how long a nonce may be solved and spent
	maxChallengeBits     = 24
)

// Challenge is what the page must solve: find a decimal counter such that
// SHA-256(Nonce || counter) starts with Bits zero bits, then send
// "Nonce:counter" in the Checkout-PoW header.
type Challenge struct {
	Nonce string `json:"nonce"`
	Bits  int    `json:"bits"`
}

// ChallengeState is what challenges need from the store: whether traffic is
// near a limit, and spending a nonce once across instances. risk.Guard
// implements it over the counters.
type ChallengeState interface {
	// NearLimit reports whether the session or the IP is close to a rate
	// limit, without counting an attempt.
	NearLimit(ctx context.Context, in GuardInput) (bool, error)
	// SpendChallenge records a solved nonce and reports whether this was
	// its first use.
	SpendChallenge(ctx context.Context, nonce string, at time.Time) (bool, error)
}

// NewChallenge issues a challenge bound to the session: a random value, its
// expiry and difficulty, under the vault's MAC ("pow"), so any instance can
// check it and none needs to remember it before it is spent.
func (s *Service) NewChallenge(sessionID string) Challenge {
	b := s.challengeBits()
	var r [16]byte
	rand.Read(r[:])
	body := hex.EncodeToString(r[:]) + "." + strconv.FormatInt(s.now().Add(orDefault(s.ChallengeTTL, DefaultChallengeTTL)).Unix(), 10) + "." + strconv.Itoa(b)
	return Challenge{Nonce: body + "." + s.challengeMAC(sessionID, body), Bits: b}
}

func (s *Service) challengeBits() int {
	if s.ChallengeBits > 0 && s.ChallengeBits <= maxChallengeBits {
		return s.ChallengeBits
	}
	return DefaultChallengeBits
}

func (s *Service) challengeMAC(sessionID, body string) string {
	return hex.EncodeToString(s.CardKeys.MAC("pow", []byte(sessionID+"\x00"+body))[:16])
}

// VerifyChallenge checks a solution ("nonce:counter") for the session: its
// MAC, its expiry, its difficulty (at least the current setting) and its
// work. It does not spend it (SpendChallenge does, once).
func (s *Service) VerifyChallenge(sessionID, solution string, now time.Time) (nonce string, ok bool) {
	if len(solution) > 200 || s.CardKeys == nil {
		return "", false
	}
	nonce, counter, found := strings.Cut(solution, ":")
	if !found || counter == "" || len(counter) > 20 {
		return "", false
	}
	if _, err := strconv.ParseUint(counter, 10, 64); err != nil {
		return "", false
	}
	parts := strings.Split(nonce, ".")
	if len(parts) != 4 {
		return "", false
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(s.challengeMAC(sessionID, body))) {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", false
	}
	b, err := strconv.Atoi(parts[2])
	if err != nil || b < s.challengeBits() {
		return "", false
	}
	return nonce, LeadingZeroBits(sha256.Sum256([]byte(nonce+counter))) >= b
}

// LeadingZeroBits counts the zero bits a hash starts with.
func LeadingZeroBits(h [32]byte) int {
	n := 0
	for _, c := range h {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// ErrNearLimit is the store's refusal of a submission's round whose session
// or IP is one attempt from its limit (NeedsChallenge's rule, asked in the
// round that would begin the attempt): nothing of the round was done, and
// the shopper is asked to solve a challenge.
var ErrNearLimit = errors.New("checkout: the session or the IP is near a rate limit")

// challengeRequired is the answer to a suspicious submission without a
// valid, unspent solution: the page solves a new challenge and sends again.
func challengeRequired() *Error {
	return &Error{Code: ECHALLENGE, Message: "Please wait a moment while we check your browser, then try again.", MsgID: "pay.challenge"}
}

// NeedsChallenge is the issuance rule: a challenge is required when the
// session already had 2 failed attempts, or the session or the IP is near
// a rate limit.
func (s *Service) NeedsChallenge(ctx context.Context, co Checkout, ip GuardInput) (bool, error) {
	if co.Session.Attempts >= 2 {
		return true, nil
	}
	if s.Challenges == nil {
		return false, nil
	}
	return s.Challenges.NearLimit(ctx, ip)
}

// challenge refuses a suspicious submission that carries no valid, unspent
// solution. It runs before the attempt begins: a challenge is not an
// attempt, and costs the shopper none of the session's. A submission
// without a solution on a session with fewer than 2 failed attempts is
// left to its round (inRound) when the round can ask the near-limit rule
// (roundScreener), with its own counts; any other is checked here, and its
// solution spent when it is needed.
func (s *Service) challenge(ctx context.Context, co Checkout, req PayRequest, now time.Time) (inRound bool, err error) {
	if s.Challenges == nil || s.CardKeys == nil {
		return false, nil
	}
	nonce, solved := s.VerifyChallenge(co.Session.ID, req.Challenge, now)
	if _, rounds := s.roundScreener(); rounds && !solved && co.Session.Attempts < 2 {
		return true, nil
	}
	need, err := s.NeedsChallenge(ctx, co, GuardInput{MerchantID: co.Merchant.ID, SessionID: co.Session.ID, IP: req.ClientIP, Time: now})
	if err != nil {
		s.log().Error("challenge rule failed; payment refused", "session", co.Session.ID, "err", err)
		return false, unavailable(err)
	}
	switch {
	case !need:
		return false, nil
	case !solved:
		return false, challengeRequired()
	}
	first, err := s.Challenges.SpendChallenge(ctx, nonce, now)
	if err != nil {
		return false, unavailable(err)
	}
	if !first {
		return false, challengeRequired() // replayed
	}
	return false, nil
}
