package risk

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Event is one thing that happened, counted in sliding windows: an attempt
// with a card, a card seen from an IP, a declined authorization.
type Event struct {
	// Key is what is counted, e.g. "ip:<hash>"; at most 64 bytes (see counterKey).
	Key string
	// Member is the value whose distinct count matters under Key (a card,
	// hashed): the event counts toward Distinct queries of Key. "" counts
	// it toward the key's event counts instead. A key is counted one way.
	Member string
	At     time.Time
	// Bucket, when set, counts the event in time buckets of this width
	// instead (see Query.Bucket): for a count that may be far above
	// MaxCount, such as a merchant's attempts a minute.
	Bucket time.Duration
}

// Query asks how many events Key had at or after Since, or with Distinct how
// many distinct non-empty members.
type Query struct {
	Key      string
	Since    time.Time
	Distinct bool
	// Cap is the count the caller needs to tell apart: the answer is the
	// count or Cap, whichever is lower (a rule with Max m asks m+1). 0 or
	// more than KeepPerKey means KeepPerKey. Buckets are not capped.
	Cap int
	// Bucket sums the key's buckets of events recorded with this width
	// from the one Since falls in: the count can include events up to one
	// bucket older than Since, never miss one.
	Bucket time.Duration
}

// The counters' bounds. A key keeps its KeepPerKey latest events and its
// KeepPerKey most recently seen members, so its storage does not grow with
// traffic; a count up to KeepPerKey is exact (the events or members the
// window holds beyond that were the oldest, and the answer is capped
// there). Rules counted this way therefore take a Max of at most MaxCount.
const (
	MaxCount   = 100
	KeepPerKey = MaxCount + 1
)

// Limit is the most q's answer can be.
func (q Query) Limit() int {
	if q.Cap > 0 && q.Cap < KeepPerKey {
		return q.Cap
	}
	return KeepPerKey
}

// BucketStart is the start of the bucket of width w that t falls in.
func BucketStart(t time.Time, w time.Duration) time.Time {
	return t.Truncate(w)
}

// BucketsPerWindow is how many buckets divide a bucketed rule's window:
// its count errs by at most one bucket, a sixtieth of the window.
const BucketsPerWindow = 60

// BucketWidth is the bucket width for a window: a sixtieth of it, at least
// a second.
func BucketWidth(window time.Duration) time.Duration {
	return max(time.Second, (window / BucketsPerWindow).Truncate(time.Second))
}

// BucketHorizon is the start of the oldest bucket of width w that a query
// at t may still read: buckets before it may be deleted.
func BucketHorizon(t time.Time, w time.Duration) time.Time {
	return BucketStart(t, w).Add(-time.Duration(BucketsPerWindow+1) * w)
}

// Writes are a batch of events as a store writes them: each kind of row
// apart, in key order (so that two instances writing the same keys lock
// them in one order), with the keys each table must trim to KeepPerKey.
// The stores share this split and differ only in their SQL.
type Writes struct {
	Occurrences []Event // events without a member: risk_occurrences
	Members     []Event // events with one: risk_members
	Buckets     []Event // bucketed events: risk_buckets
	// OccurrenceKeys and MemberKeys are the distinct keys of Occurrences
	// and Members, to trim once all rows are in.
	OccurrenceKeys, MemberKeys []string
	Latest                     time.Time // the latest event's time: "now" for pruning
}

// SplitEvents sorts events into the rows a store writes.
func SplitEvents(events []Event) Writes {
	var w Writes
	sorted := slices.SortedFunc(slices.Values(events), func(a, b Event) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Member, b.Member))
	})
	for _, e := range sorted {
		if e.At.After(w.Latest) {
			w.Latest = e.At
		}
		switch {
		case e.Bucket > 0:
			w.Buckets = append(w.Buckets, e)
		case e.Member == "":
			if len(w.Occurrences) == 0 || w.Occurrences[len(w.Occurrences)-1].Key != e.Key {
				w.OccurrenceKeys = append(w.OccurrenceKeys, e.Key)
			}
			w.Occurrences = append(w.Occurrences, e)
		default:
			if len(w.Members) == 0 || w.Members[len(w.Members)-1].Key != e.Key {
				w.MemberKeys = append(w.MemberKeys, e.Key)
			}
			w.Members = append(w.Members, e)
		}
	}
	return w
}

// Pruning, the same in every store: every PruneEvery-th record of an
// instance deletes up to PruneBatch rows of each counter table older than
// MaxWindow, so the tables stay bounded without a background job and no
// write waits long behind a delete.
const (
	PruneEvery = 64
	PruneBatch = 1_000
)

// Counters remember events for the velocity rules. Screen makes one Record
// and one Count call per payment, so a store answers each in one round trip
// (one INSERT of the batch; one SELECT over the queries). The store's
// implementation (PostgreSQL) is what makes every instance see every other
// instance's attempts; MemoryCounters sees only its own process.
//
// Events need to be kept for Settings.LongestWindow of every merchant, at
// most MaxWindow; older ones may be pruned.
type Counters interface {
	// Record stores the events, all or none. An error means screening cannot
	// proceed (the caller fails closed); implementations return plain errors
	// or EUNAVAILABLE.
	Record(ctx context.Context, events []Event) error
	// Count answers each query, in order, counting every event recorded
	// before the call (including the caller's own, just recorded). Errors as
	// for Record.
	Count(ctx context.Context, queries []Query) ([]int, error)
}

// RecordCounter is Counters that can record events and count in one round
// trip, as Guard and Screen always do one after the other. A store over a
// network (PostgreSQL) implements it; recordAndCount falls back to Record
// then Count for one that does not.
type RecordCounter interface {
	// RecordAndCount is Record(events) then Count(queries), the counts
	// including the events just recorded; all or nothing.
	RecordAndCount(ctx context.Context, events []Event, queries []Query) ([]int, error)
}

// A Round is what one card submission asks of the store before it is
// decided, in the order the checkout needs it: whether the card is locked,
// and unless it is, its events recorded, the queries counted (the events
// included) and the keys looked up on the merchant's and the platform's
// blocklists. A locked card is refused before anything of it is counted.
type Round struct {
	// Tripwires are counted before anything of the round is done: one
	// reached refuses the whole round with checkout.ErrNearLimit (the
	// challenge's rule, asked in the round that would begin the attempt).
	// Only with a Begin.
	Tripwires []Tripwire
	// Begin, when set, begins the attempt first (checkout.Store's
	// BeginAttempt) in the same round trip; a refusal is the round's error,
	// and nothing else of it is done.
	Begin      *checkout.AttemptBegin
	Card       string    // the card's fingerprint
	At         time.Time // the submission's time: a lock until later holds
	Events     []Event
	Queries    []Query
	MerchantID string
	Keys       []ListKey // none: no lookup
}

// A Tripwire is a count that, reached (At or more), refuses a Round.
type Tripwire struct {
	Query Query
	At    int
}

// Tripped says whether counts, one per wire in order, reach any wire.
func Tripped(wires []Tripwire, counts []int) bool {
	for i, w := range wires {
		if counts[i] >= w.At {
			return true
		}
	}
	return false
}

// TripwireQueries are the wires' queries, in order.
func TripwireQueries(wires []Tripwire) []Query {
	queries := make([]Query, len(wires))
	for i, w := range wires {
		queries[i] = w.Query
	}
	return queries
}

// RoundAnswer is a Round's outcome. When Locked, nothing was recorded and
// Counts and Matches are empty.
type RoundAnswer struct {
	Before  checkout.Session // with Begin: the session before the attempt began
	Locked  bool
	Counts  []int // one per query, in order
	Matches []ListMatch
}

// RoundTripper is a store that keeps the counters, the blocklists, the card
// locks and the sessions, and answers a Round in one round trip (one write
// on SQLite, one batch on PostgreSQL, with a Begin a transaction of two),
// all or nothing.
type RoundTripper interface {
	RoundTrip(ctx context.Context, r Round) (RoundAnswer, error)
}

// roundTrip answers r: in one round trip when the counters are also the
// locks and, when keys are looked up, the lists (RoundTripper); otherwise
// with the lock's read, recordAndCount and Match one after the other.
func roundTrip(ctx context.Context, c Counters, l Lists, locks CardLocks, r Round) (RoundAnswer, error) {
	if rt, ok := c.(RoundTripper); ok && sameStore(c, locks) && (len(r.Keys) == 0 || sameStore(c, l)) {
		ans, err := rt.RoundTrip(ctx, r)
		if err != nil {
			return RoundAnswer{}, fmt.Errorf("risk: record and count attempts: %w", err)
		}
		if !ans.Locked && len(ans.Counts) != len(r.Queries) {
			return RoundAnswer{}, fmt.Errorf("risk: counters answered %d of %d queries", len(ans.Counts), len(r.Queries))
		}
		return ans, nil
	}
	if r.Begin != nil || len(r.Tripwires) > 0 {
		return RoundAnswer{}, errors.New("risk: only a RoundTripper begins an attempt, or trips, in its round")
	}
	lock, found, err := locks.CardLock(ctx, r.Card)
	if err != nil {
		return RoundAnswer{}, fmt.Errorf("risk: read card lock: %w", err)
	}
	if found && lock.LockedUntil.After(r.At) {
		return RoundAnswer{Locked: true}, nil
	}
	counts, matches, err := recordCountAndMatch(ctx, c, l, r.Events, r.Queries, r.MerchantID, r.Keys)
	if err != nil {
		return RoundAnswer{}, err
	}
	return RoundAnswer{Counts: counts, Matches: matches}, nil
}

// recordCountAndMatch is recordAndCount, then the keys' Match (none without
// keys), one after the other.
func recordCountAndMatch(ctx context.Context, c Counters, l Lists, events []Event, queries []Query,
	merchantID string, keys []ListKey) ([]int, []ListMatch, error) {
	counts, err := recordAndCount(ctx, c, events, queries)
	if err != nil || len(keys) == 0 {
		return counts, nil, err
	}
	matches, err := l.Match(ctx, merchantID, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("risk: blocklists: %w", err)
	}
	return counts, matches, nil
}

// sameStore says whether the counters are also another of the store's
// parts (the lists, the locks): only then may their one round trip answer
// for it. (Both stores are pointers, so the comparison is of identity.)
func sameStore[T any](c Counters, part T) bool {
	other, ok := c.(T)
	return ok && any(other) == any(part)
}

// recordAndCount records the events and answers the queries, in one round
// trip when the counters can.
func recordAndCount(ctx context.Context, c Counters, events []Event, queries []Query) ([]int, error) {
	if rc, ok := c.(RecordCounter); ok {
		counts, err := rc.RecordAndCount(ctx, events, queries)
		if err != nil {
			return nil, fmt.Errorf("risk: record and count attempts: %w", err)
		}
		return counts, nil
	}
	if err := c.Record(ctx, events); err != nil {
		return nil, fmt.Errorf("risk: record attempt: %w", err)
	}
	counts, err := c.Count(ctx, queries)
	if err != nil {
		return nil, fmt.Errorf("risk: count attempts: %w", err)
	}
	return counts, nil
}

// counterKey builds a bounded, uniform key from a kind and a value (an
// email, an address, a device cookie): 26 characters of SHA-256 after the
// kind. The hash keeps the store's index narrow and keeps the event table
// from becoming a second plain-text copy of shoppers' emails and addresses.
// It is not a secret: emails can be guessed and hashed.
func counterKey(kind, value string) string {
	return kind + ":" + hash16(value)
}

// hash16 is 16 bytes of SHA-256 in the alphabet of the checkout's ids
// (a-z, 2-7): no digit run in a stored key can pass for a security code, so
// the leak tests, which search the database for one, never meet a false
// match in the counters.
func hash16(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hashEncoding.EncodeToString(sum[:16])
}

var hashEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// MemoryCounters keeps events in process memory, bounded like the stores'
// (KeepPerKey per key): for tests. Several instances each keep their own, so
// a card tester spreading attempts over them would be counted once per
// instance: deployments use the store's Counters. It is safe for concurrent
// use.
type MemoryCounters struct {
	retain time.Duration

	mu      sync.Mutex
	keys    map[string]*memKey
	latest  time.Time // the latest event time seen: "now" for pruning, so tests with a fake clock prune alike
	records int
}

type memKey struct {
	events  []time.Time          // the latest KeepPerKey, in time order
	members map[string]time.Time // member: last seen; at most KeepPerKey
	buckets map[time.Time]int    // bucket start: events
}

// NewMemoryCounters keeps events for retain (at least the longest window of
// the settings in use: Settings.LongestWindow; MaxWindow when in doubt).
func NewMemoryCounters(retain time.Duration) *MemoryCounters {
	return &MemoryCounters{retain: retain, keys: make(map[string]*memKey)}
}

// sweepEvery is how many events pass between full sweeps of idle keys.
const sweepEvery = 4096

// Record stores the events; it never fails.
func (m *MemoryCounters) Record(_ context.Context, events []Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		if e.At.After(m.latest) {
			m.latest = e.At
		}
	}
	horizon := m.latest.Add(-m.retain)
	for _, e := range events {
		if e.At.Before(horizon) {
			continue
		}
		k := m.keys[e.Key]
		if k == nil {
			k = &memKey{}
			m.keys[e.Key] = k
		}
		k.prune(horizon)
		k.record(e)
	}
	m.records += len(events)
	if m.records >= sweepEvery {
		m.records = 0
		for name, k := range m.keys {
			if k.prune(horizon) {
				delete(m.keys, name)
			}
		}
	}
	return nil
}

func (k *memKey) record(e Event) {
	if e.Bucket > 0 {
		if k.buckets == nil {
			k.buckets = make(map[time.Time]int)
		}
		k.buckets[BucketStart(e.At, e.Bucket)]++
		h := BucketHorizon(e.At, e.Bucket)
		for start := range k.buckets {
			if start.Before(h) {
				delete(k.buckets, start)
			}
		}
		return
	}
	if e.Member == "" {
		i, _ := slices.BinarySearchFunc(k.events, e.At, func(a, b time.Time) int { return a.Compare(b) })
		k.events = slices.Insert(k.events, i, e.At)
		if n := len(k.events) - KeepPerKey; n > 0 {
			k.events = slices.Delete(k.events, 0, n)
		}
		return
	}
	if k.members == nil {
		k.members = make(map[string]time.Time)
	}
	if last, ok := k.members[e.Member]; !ok || e.At.After(last) {
		k.members[e.Member] = e.At
	}
	if len(k.members) > KeepPerKey {
		oldest, first := "", true
		for name, at := range k.members {
			if first || at.Before(k.members[oldest]) {
				oldest, first = name, false
			}
		}
		delete(k.members, oldest)
	}
}

// prune drops what aged out before horizon; true when nothing is left.
func (k *memKey) prune(horizon time.Time) bool {
	i, _ := slices.BinarySearchFunc(k.events, horizon, func(a, b time.Time) int { return a.Compare(b) })
	k.events = slices.Delete(k.events, 0, i)
	for name, at := range k.members {
		if at.Before(horizon) {
			delete(k.members, name)
		}
	}
	for start := range k.buckets {
		if start.Before(horizon) {
			delete(k.buckets, start)
		}
	}
	return len(k.events) == 0 && len(k.members) == 0 && len(k.buckets) == 0
}

// Count answers the queries; it never fails.
func (m *MemoryCounters) Count(_ context.Context, queries []Query) ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, len(queries))
	for i, q := range queries {
		k := m.keys[q.Key]
		if k == nil {
			continue
		}
		n := 0
		switch {
		case q.Bucket > 0:
			from := BucketStart(q.Since, q.Bucket)
			for start, c := range k.buckets {
				if !start.Before(from) {
					n += c
				}
			}
			out[i] = n
			continue
		case q.Distinct:
			for _, at := range k.members {
				if !at.Before(q.Since) {
					n++
				}
			}
		default:
			for _, at := range k.events {
				if !at.Before(q.Since) {
					n++
				}
			}
		}
		out[i] = min(n, q.Limit())
	}
	return out, nil
}

// Len is the number of events and members held, for tests of pruning.
func (m *MemoryCounters) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range m.keys {
		n += len(k.events) + len(k.members) + len(k.buckets)
	}
	return n
}

var _ Counters = (*MemoryCounters)(nil)
