package demoshop

import (
	"sync"
	"time"
)

// memo is an in-memory map whose entries expire. The shop keeps its orders
// and the payment id of every result it accepted in one each.
//
// This is enough for a demo in one process, and only for that: a real
// merchant keeps orders and the payments it acted on in its database, shared by every
// instance and kept across restarts, for at least the token's lifetime
// (otherwise a restart or a second instance re-opens the replay window).
type memo[V any] struct {
	mu  sync.Mutex
	m   map[string]memoEntry[V]
	now func() time.Time // tests move the clock
}

type memoEntry[V any] struct {
	v     V
	until time.Time
}

func newMemo[V any]() *memo[V] {
	return &memo[V]{m: make(map[string]memoEntry[V]), now: time.Now}
}

// put stores v under key until the given time.
func (m *memo[V]) put(key string, v V, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	m.m[key] = memoEntry[V]{v: v, until: until}
}

// putNew stores v under key until the given time, unless key is already
// there; it reports whether it stored it. Check and store are one step, so
// two concurrent requests with the same key cannot both succeed.
func (m *memo[V]) putNew(key string, v V, until time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	if _, ok := m.m[key]; ok {
		return false
	}
	m.m[key] = memoEntry[V]{v: v, until: until}
	return true
}

// get returns the value under key, if it has not expired.
func (m *memo[V]) get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	if !ok || !m.now().Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// sweep drops expired entries. It walks the whole map on every write,
// which is fine at a demo's volume. m.mu must be held.
func (m *memo[V]) sweep() {
	now := m.now()
	for k, e := range m.m {
		if !now.Before(e.until) {
			delete(m.m, k)
		}
	}
}
