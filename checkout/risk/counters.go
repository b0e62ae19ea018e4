package risk

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sync"
	"time"
)

// Event is one thing that happened, counted in sliding windows: an attempt
// with a card, a card seen from an IP, a declined authorization.
type Event struct {
	// Key is what is counted, e.g. "ip:<hash>"; at most 64 bytes (see counterKey).
	Key string
	// Member is the value whose distinct count matters under Key (a card,
	// hashed); "" when only events are counted.
	Member string
	At     time.Time
}

// Query asks how many events Key had at or after Since, or with Distinct how
// many distinct non-empty members.
type Query struct {
	Key      string
	Since    time.Time
	Distinct bool
}

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

// MemoryCounters keeps events in process memory: for tests, and for the
// embedded single-instance default. Several instances each keep their own,
// so a card tester spreading attempts over them would be counted once per
// instance: multi-instance deployments must use the store's Counters.
// It is safe for concurrent use.
type MemoryCounters struct {
	retain time.Duration

	mu      sync.Mutex
	events  map[string][]memEvent
	latest  time.Time // the latest event time seen: "now" for pruning, so tests with a fake clock prune alike
	records int
}

type memEvent struct {
	at     time.Time
	member string
}

// NewMemoryCounters keeps events for retain (at least the longest window of
// the settings in use: Settings.LongestWindow; MaxWindow when in doubt).
func NewMemoryCounters(retain time.Duration) *MemoryCounters {
	return &MemoryCounters{retain: retain, events: make(map[string][]memEvent)}
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
		m.events[e.Key] = append(prune(m.events[e.Key], horizon), memEvent{at: e.At, member: e.Member})
	}
	m.records += len(events)
	if m.records >= sweepEvery {
		m.records = 0
		for k, es := range m.events {
			if es = prune(es, horizon); len(es) == 0 {
				delete(m.events, k)
			} else {
				m.events[k] = es
			}
		}
	}
	return nil
}

// prune drops events before horizon, in place. Events mostly arrive in time
// order, so when the first has not aged out there is nothing to scan for;
// an older one recorded late waits for the next prune (Count filters by
// time anyway: retention bounds memory, it does not decide counts).
func prune(es []memEvent, horizon time.Time) []memEvent {
	if len(es) == 0 || !es[0].at.Before(horizon) {
		return es
	}
	kept := es[:0]
	for _, e := range es {
		if !e.at.Before(horizon) {
			kept = append(kept, e)
		}
	}
	clear(es[len(kept):]) // let dropped members be collected
	return kept
}

// Count answers the queries; it never fails.
func (m *MemoryCounters) Count(_ context.Context, queries []Query) ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, len(queries))
	for i, q := range queries {
		es := m.events[q.Key]
		if !q.Distinct {
			for _, e := range es {
				if !e.at.Before(q.Since) {
					out[i]++
				}
			}
			continue
		}
		seen := make(map[string]struct{}, len(es))
		for _, e := range es {
			if e.member != "" && !e.at.Before(q.Since) {
				seen[e.member] = struct{}{}
			}
		}
		out[i] = len(seen)
	}
	return out, nil
}

// Len is the number of events held, for tests of pruning.
func (m *MemoryCounters) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, es := range m.events {
		n += len(es)
	}
	return n
}

var _ Counters = (*MemoryCounters)(nil)
