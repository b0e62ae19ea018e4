package risk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

var _ checkout.Guard = (*Guard)(nil)

// CardLock is a card locked after repeated wrong security codes. It is
// keyed by the card's fingerprint: the number is never stored here.
type CardLock struct {
	Fingerprint string    `json:"card_fingerprint"`
	LockedAt    time.Time `json:"locked_at"`
	LockedUntil time.Time `json:"locked_until"`
	// UnlockedAt is when the operator last unlocked the card (zero if
	// never). Security code failures before a lock's end (an unlock, or
	// LockedUntil passing) no longer count: a fresh budget after a lock.
	UnlockedAt time.Time `json:"unlocked_at,omitzero"`
}

// CardLocks keep the security-code lockout's locks. The stores implement it
// (table card_locks), so a lock holds on every instance.
type CardLocks interface {
	// LockCard locks the card from at until until; an existing later lock
	// is kept. Errors are the store's.
	LockCard(ctx context.Context, fingerprint string, at, until time.Time) error
	// CardLock returns the card's lock row; found is false when it never
	// had one.
	CardLock(ctx context.Context, fingerprint string) (lock CardLock, found bool, err error)
	// UnlockCard ends the card's lock at at (so its earlier failures stop
	// counting); false when the card is not locked at at.
	UnlockCard(ctx context.Context, fingerprint string, at time.Time) (bool, error)
	// LockedCards lists the cards locked at at, soonest lock first (at
	// most 1000).
	LockedCards(ctx context.Context, at time.Time) ([]CardLock, error)
}

// LockoutSlot is one slot of a card's wrong-code budget: a reservation
// while its authorization waits for the issuer, a failure once the issuer
// said the security code was wrong.
type LockoutSlot struct {
	ID          string    // the authorization's attempt key (session:n)
	Fingerprint string    // the card's keyed fingerprint
	At          time.Time // when it was taken; for a failure, when the code was refused
	// Since is the lockout window's start: failures before it, or before
	// the end of the card's last lock (expired or unlocked), do not count.
	Since time.Time
	// Until is when a reservation stops counting (its request died); for
	// a failure, when it may be pruned.
	Until time.Time
	Max   int // the budget: GuardSettings.LockoutFailures
}

// Answers of LockoutBudget.ReserveSlot.
const (
	SlotGranted = "granted" // the slot is the caller's: it may go to the issuer
	SlotLocked  = "locked"  // the card is locked
	SlotFull    = "full"    // failures and reservations in flight fill the budget
)

// LockoutBudget keeps the security-code lockout's slots (table
// lockout_slots), so that the threshold holds however many submissions of
// one card arrive at once, on any number of instances: the stores
// implement it in transactions serialized per card.
type LockoutBudget interface {
	// ReserveSlot, in one transaction serialized per card, answers
	// SlotLocked when the card is locked at s.At; else counts the card's
	// failures since s.Since (or its last lock's end, if later) and its
	// reservations still counting at s.At, answers SlotFull when that
	// reaches s.Max, and otherwise records reservation s (SlotGranted).
	// Errors are the store's: no decision.
	ReserveSlot(ctx context.Context, s LockoutSlot) (string, error)
	// FailSlot turns reservation s.ID into a failure at s.At (recording one
	// if the reservation is gone), and when the card's failures since
	// s.Since (or its last lock's end) reach s.Max locks it from s.At until
	// lockUntil (a later lock is kept), in the same transaction, serialized
	// per card with ReserveSlot. locked is whether it locked the card.
	FailSlot(ctx context.Context, s LockoutSlot, lockUntil time.Time) (locked bool, err error)
	// ReleaseSlot deletes reservation id (never a failure); a missing one
	// is no error.
	ReleaseSlot(ctx context.Context, id string) error
}

// Limit is at most Max events in a sliding Window; Max 0 disables it.
type Limit struct {
	Max    int
	Window time.Duration
}

func (l Limit) on() bool { return l.Max > 0 }

// GuardSettings are the operator's thresholds of the card-testing defence.
// They are the platform's: the operator may set a merchant's rate limits
// apart, and the merchant may make its own stricter (Limits), but the
// lockout is the same everywhere. None is ever disclosed to shoppers: a published threshold tells a card tester how many tries are
// free (the source documents: issuers keep their lockout count secret).
type GuardSettings struct {
	// LockoutFailures wrong security codes for one card within
	// LockoutWindow lock it for LockoutDuration, on every merchant.
	LockoutFailures int
	LockoutWindow   time.Duration
	LockoutDuration time.Duration

	IP       Limit // attempts from one IP (an IPv6 /64)
	Session  Limit // attempts on one checkout session
	Merchant Limit // attempts at one merchant, all shoppers together
	Card     Limit // attempts with one card (fingerprint)
	// Chunk: distinct card numbers sharing their first 12 digits (a tester
	// enumerating the last digits of a range).
	Chunk Limit
}

// DefaultGuardSettings are the safe defaults: 3 wrong codes in 24 h lock a
// card for 24 h; 10 attempts per IP in 10 minutes; 5 per session; 120 per
// merchant per minute; 5 per card per hour; 5 numbers per 12-digit prefix
// per hour.
func DefaultGuardSettings() GuardSettings {
	return GuardSettings{
		LockoutFailures: 3,
		LockoutWindow:   24 * time.Hour,
		LockoutDuration: 24 * time.Hour,
		IP:              Limit{Max: 10, Window: 10 * time.Minute},
		Session:         Limit{Max: 5, Window: 24 * time.Hour},
		Merchant:        Limit{Max: 120, Window: time.Minute},
		Card:            Limit{Max: 5, Window: time.Hour},
		Chunk:           Limit{Max: 5, Window: time.Hour},
	}
}

// Validate names every setting out of range.
func (s GuardSettings) Validate() error {
	var errs []error
	if s.LockoutFailures < 1 || s.LockoutFailures > 100 {
		errs = append(errs, errors.New("lockout failures must be from 1 to 100"))
	}
	for name, d := range map[string]time.Duration{"lockout window": s.LockoutWindow, "lockout duration": s.LockoutDuration} {
		if d < time.Minute || d > MaxWindow {
			errs = append(errs, fmt.Errorf("%s must be from 1m to %s", name, MaxWindow))
		}
	}
	for name, l := range map[string]Limit{"ip": s.IP, "session": s.Session, "merchant": s.Merchant, "card": s.Card, "chunk": s.Chunk} {
		if l.Max < 0 || l.Max > LimitMax(name) {
			errs = append(errs, fmt.Errorf("rate limit %s: max must be from 0 (off) to %d", name, LimitMax(name)))
		}
		if l.on() && (l.Window < MinLimitWindow || l.Window > MaxWindow) {
			errs = append(errs, fmt.Errorf("rate limit %s: window must be from %s to %s", name, MinLimitWindow, MaxWindow))
		}
	}
	return errors.Join(errs...)
}

// Guard is the card-testing defence over the store's counters and card
// locks. Store-backed, so its limits and locks hold across instances.
//
// It is written on Counters rather than a rate-limiting library: the
// well-kept Go limiters (golang.org/x/time/rate, ulule/limiter,
// go-redis/redis_rate) keep token buckets in process memory or in Redis;
// none counts sliding windows over our own PostgreSQL, and Counters
// already does, in one round trip per Record or Count.
type Guard struct {
	Counters Counters
	Locks    CardLocks
	Budget   LockoutBudget
	// Settings are the platform's: the lockout's always (it is per card,
	// on every merchant), and the rate limits when Limits is nil.
	Settings GuardSettings
	// Limits, when set, give each merchant's rate limits, read through
	// their in-process cache: Admit and NearLimit make no extra round
	// trip for them. Counts stay global; only the thresholds differ.
	Limits *Limits
}

// rateLimits are the merchant's thresholds.
func (g *Guard) rateLimits(ctx context.Context, merchantID string) (RateLimits, error) {
	if g.Limits == nil || merchantID == "" {
		return g.Settings.RateLimits(), nil
	}
	r, err := g.Limits.For(ctx, merchantID)
	if err != nil {
		return RateLimits{}, fmt.Errorf("risk: the merchant's card-testing limits: %w", err)
	}
	return r, nil
}

// Admit refuses a locked card, then counts the attempt and refuses it when
// a limit is over (not a submission that completes a 3-D Secure challenge:
// in.Completes). Refused attempts count too: a tester who keeps knocking
// keeps the window full. The lock is read with the counts, in the
// counters' one round trip when the store can (RoundTripper).
func (g *Guard) Admit(ctx context.Context, in checkout.GuardInput) (checkout.GuardVerdict, error) {
	a, err := g.admission(ctx, in)
	if err != nil {
		return checkout.GuardVerdict{}, err
	}
	ans, err := roundTrip(ctx, g.Counters, nil, g.Locks, a.round(in))
	if err != nil {
		return checkout.GuardVerdict{}, err
	}
	return a.decide(ans)
}

// admission is Admit before the store: the events to record and the
// queries whose counts decide, unless the card is locked. Split so that
// Screener.AdmitAndScreen makes the guard's and screening's round trip one.
type admission struct {
	events  []Event
	queries []Query
	checks  []limitCheck
}

// limitCheck is one rate limit an admission's counts are held against.
type limitCheck struct {
	rule  string
	limit Limit
}

// round is the admission's Round, nothing looked up on the lists.
func (a admission) round(in checkout.GuardInput) Round {
	return Round{Card: in.Fingerprint, At: in.Time, Events: a.events, Queries: a.queries, MerchantID: in.MerchantID}
}

func (g *Guard) admission(ctx context.Context, in checkout.GuardInput) (admission, error) {
	if g == nil || g.Counters == nil || g.Locks == nil {
		return admission{}, errors.New("risk: Guard needs Counters and Locks")
	}
	if in.Fingerprint == "" || in.Time.IsZero() {
		return admission{}, errors.New("risk: guard input needs a card fingerprint and a time")
	}
	if in.Completes {
		// The completion of a 3-D Secure challenge is the attempt that met
		// it, counted then: counting it again would spend a careful
		// shopper's allowance twice per payment. The lockout (the round's
		// lock, and Reserve) still holds.
		return admission{}, nil
	}

	s, err := g.rateLimits(ctx, in.MerchantID)
	if err != nil {
		return admission{}, err
	}
	card := hash16(in.Fingerprint)
	var a admission
	count := func(rule string, l Limit, e Event, q Query) {
		if !l.on() {
			// A limit that is off neither records nor counts: nothing
			// else reads its key. Turned on, it counts from then.
			return
		}
		a.checks = append(a.checks, limitCheck{rule, l})
		a.events = append(a.events, e)
		q.Since, q.Cap = in.Time.Add(-l.Window), l.Max+1
		a.queries = append(a.queries, q)
	}
	add := func(rule string, l Limit, key, member string, distinct bool) {
		count(rule, l, Event{Key: key, Member: member, At: in.Time}, Query{Key: key, Distinct: distinct})
	}
	if in.SessionID != "" {
		add(checkout.RuleRateLimitSession, s.Session, counterKey("rl_session", in.SessionID), "", false)
	}
	add(checkout.RuleRateLimitCard, s.Card, "rl_card:"+card, "", false)
	if in.Chunk != "" {
		add(checkout.RuleRateLimitChunk, s.Chunk, counterKey("rl_chunk", in.Chunk), card, true)
	}
	if ip := derive(checkout.ScreenInput{IP: in.IP}).ipKey; ip != "" {
		add(checkout.RuleRateLimitIP, s.IP, counterKey("rl_ip", ip), "", false)
	}
	if in.MerchantID != "" {
		// The merchant's limit may be far above MaxCount: its attempts are
		// counted in buckets of a sixtieth of its window (an overcount of at
		// most one bucket's attempts, never an undercount).
		key, w := counterKey("rl_merchant", in.MerchantID), BucketWidth(s.Merchant.Window)
		count(checkout.RuleRateLimitMerchant, s.Merchant, Event{Key: key, At: in.Time, Bucket: w}, Query{Key: key, Bucket: w})
	}
	return a, nil
}

// decide refuses a locked card, then holds the admission's counts, the
// first of its round's, against its limits.
func (a admission) decide(ans RoundAnswer) (checkout.GuardVerdict, error) {
	if ans.Locked {
		return checkout.GuardVerdict{Rule: checkout.RuleLockoutCVC, Locked: true}, nil
	}
	counts := ans.Counts
	if len(counts) < len(a.queries) {
		return checkout.GuardVerdict{}, fmt.Errorf("risk: counters answered %d of %d queries", len(counts), len(a.queries))
	}
	var v checkout.GuardVerdict
	for i, c := range a.checks {
		if counts[i] > c.limit.Max {
			v.Rule = c.rule
			break
		}
	}
	return v, nil
}

// Reserve takes one slot of the card's wrong-code budget for the
// authorization in.Attempt, counting until until. The lockout is decided
// here, atomically per card, and not by Admit's early look at the lock: a
// lock read before authorization and a failure recorded after it let every
// submission in flight at once reach the issuer (issue 9).
func (g *Guard) Reserve(ctx context.Context, in checkout.GuardInput, until time.Time) (checkout.GuardVerdict, error) {
	slot, err := g.slot(in)
	if err != nil {
		return checkout.GuardVerdict{}, err
	}
	if !until.After(in.Time) {
		return checkout.GuardVerdict{}, errors.New("risk: a lockout reservation must end after it begins")
	}
	slot.Until = until
	ans, err := g.Budget.ReserveSlot(ctx, slot)
	if err != nil {
		return checkout.GuardVerdict{}, fmt.Errorf("risk: reserve lockout slot: %w", err)
	}
	switch ans {
	case SlotGranted:
		return checkout.GuardVerdict{}, nil
	case SlotLocked:
		return checkout.GuardVerdict{Rule: checkout.RuleLockoutCVC, Locked: true}, nil
	case SlotFull:
		return checkout.GuardVerdict{Rule: checkout.RuleLockoutPending, Locked: true}, nil
	}
	return checkout.GuardVerdict{}, fmt.Errorf("risk: reserve lockout slot: unknown answer %q", ans)
}

// Settle ends the authorization's reservation: a wrong security code (the
// issuer's cvc_check fail or an incorrect_cvc decline) becomes a failure
// and locks the card at the threshold within the window; any other answer,
// a timeout or an error included (the tester learns nothing of the code
// from those), releases it.
func (g *Guard) Settle(ctx context.Context, in checkout.GuardInput, wrongCode bool) error {
	slot, err := g.slot(in)
	if err != nil {
		return err
	}
	if !wrongCode {
		if err := g.Budget.ReleaseSlot(ctx, slot.ID); err != nil {
			return fmt.Errorf("risk: release lockout slot: %w", err)
		}
		return nil
	}
	slot.Until = in.Time.Add(MaxWindow) // no lockout window reaches further back
	if _, err := g.Budget.FailSlot(ctx, slot, in.Time.Add(g.Settings.LockoutDuration)); err != nil {
		return fmt.Errorf("risk: record security code failure: %w", err)
	}
	return nil
}

// slot is the lockout slot of in's authorization, Until unset.
func (g *Guard) slot(in checkout.GuardInput) (LockoutSlot, error) {
	if g == nil || g.Budget == nil {
		return LockoutSlot{}, errors.New("risk: Guard needs a lockout Budget")
	}
	if in.Fingerprint == "" || in.Time.IsZero() || in.Attempt == "" {
		return LockoutSlot{}, errors.New("risk: lockout slot needs a card fingerprint, a time and the attempt")
	}
	s := g.Settings
	return LockoutSlot{ID: in.Attempt, Fingerprint: in.Fingerprint, At: in.Time,
		Since: in.Time.Add(-s.LockoutWindow), Max: s.LockoutFailures}, nil
}

var _ checkout.ChallengeState = (*Guard)(nil)

// NearLimit reports whether the session or the IP is one attempt from its
// limit (or past it), without counting anything: the issuance rule of the
// proof-of-work challenge.
func (g *Guard) NearLimit(ctx context.Context, in checkout.GuardInput) (bool, error) {
	wires, err := g.nearLimit(ctx, in)
	if err != nil || len(wires) == 0 {
		return false, err
	}
	queries := TripwireQueries(wires)
	counts, err := g.Counters.Count(ctx, queries)
	if err != nil || len(counts) != len(queries) {
		return false, fmt.Errorf("risk: count for challenge: %w", err)
	}
	return Tripped(wires, counts), nil
}

// nearLimit is NearLimit's rule as tripwires: the session's and the IP's
// counts, each reached one attempt from its limit.
func (g *Guard) nearLimit(ctx context.Context, in checkout.GuardInput) ([]Tripwire, error) {
	if g == nil || g.Counters == nil {
		return nil, errors.New("risk: Guard needs Counters")
	}
	s, err := g.rateLimits(ctx, in.MerchantID)
	if err != nil {
		return nil, err
	}
	var wires []Tripwire
	if ip := derive(checkout.ScreenInput{IP: in.IP}).ipKey; ip != "" && s.IP.on() {
		wires = append(wires, Tripwire{Query{Key: counterKey("rl_ip", ip), Since: in.Time.Add(-s.IP.Window), Cap: s.IP.Max}, s.IP.Max - 1})
	}
	if in.SessionID != "" && s.Session.on() {
		wires = append(wires, Tripwire{Query{Key: counterKey("rl_session", in.SessionID), Since: in.Time.Add(-s.Session.Window), Cap: s.Session.Max}, s.Session.Max - 1})
	}
	return wires, nil
}

// SpendChallenge records a solved nonce; only its first use counts. Two
// instances spending one nonce at once may both see two and both refuse:
// the safe side.
func (g *Guard) SpendChallenge(ctx context.Context, nonce string, at time.Time) (bool, error) {
	key := counterKey("pow", nonce)
	if err := g.Counters.Record(ctx, []Event{{Key: key, At: at}}); err != nil {
		return false, fmt.Errorf("risk: spend challenge: %w", err)
	}
	counts, err := g.Counters.Count(ctx, []Query{{Key: key, Since: at.Add(-time.Hour), Cap: 2}})
	if err != nil || len(counts) != 1 {
		return false, fmt.Errorf("risk: spend challenge: %w", err)
	}
	return counts[0] == 1, nil
}
