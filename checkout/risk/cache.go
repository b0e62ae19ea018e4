package risk

import (
	"context"
	"sync"
	"time"
)

// Cache defaults of Limits and SettingsCache: what a merchant stored is
// read at most once per TTL per instance.
const (
	DefaultLimitsTTL  = 5 * time.Second
	DefaultLimitsSize = 10_000
)

// merchantCache keeps, per merchant, a value read from the store until it
// is ttl old. Concurrent callers for a merchant not cached wait for one
// read; a read's error is answered to its waiters and not kept. It holds at
// most size merchants; past that an arbitrary entry makes room (it is read
// again when next needed). The zero value is ready; it is safe for
// concurrent use.
type merchantCache[V any] struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry[V]
}

// cacheEntry is one merchant's value; its fields are written before ready
// is closed, and read only after.
type cacheEntry[V any] struct {
	ready   chan struct{}
	value   V
	err     error
	expires time.Time
}

func (e *cacheEntry[V]) loaded() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// get is merchantID's value: the cached one while younger than ttl, else
// load's.
func (c *merchantCache[V]) get(ctx context.Context, merchantID string, now time.Time, ttl time.Duration, size int,
	load func(context.Context) (V, error)) (V, error) {
	if ttl <= 0 {
		ttl = DefaultLimitsTTL
	}
	if size <= 0 {
		size = DefaultLimitsSize
	}
	c.mu.Lock()
	e, ok := c.entries[merchantID]
	if ok && e.loaded() && (e.err != nil || !now.Before(e.expires)) {
		ok = false
	}
	if ok {
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		return e.value, e.err
	}
	e = &cacheEntry[V]{ready: make(chan struct{})}
	c.put(merchantID, e, size)
	c.mu.Unlock()

	e.value, e.err = load(ctx)
	e.expires = now.Add(ttl)
	close(e.ready)
	if e.err != nil {
		c.drop(merchantID, e)
	}
	return e.value, e.err
}

// put caches e for merchantID, making room first when full. c.mu is held.
func (c *merchantCache[V]) put(merchantID string, e *cacheEntry[V], size int) {
	if c.entries == nil {
		c.entries = map[string]*cacheEntry[V]{}
	}
	if _, ok := c.entries[merchantID]; !ok && len(c.entries) >= size {
		for id := range c.entries { // an arbitrary entry: map order is random
			delete(c.entries, id)
			break
		}
	}
	c.entries[merchantID] = e
}

// drop removes merchantID's entry if it is still e.
func (c *merchantCache[V]) drop(merchantID string, e *cacheEntry[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[merchantID] == e {
		delete(c.entries, merchantID)
	}
}

// forget drops merchantID's value: the next get reads it again.
func (c *merchantCache[V]) forget(merchantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, merchantID)
}

// SettingsCache is a SettingsSource that keeps each merchant's screening
// settings for TTL, so that a checkout reads them from the store at most
// once per TTL per instance, like its card-testing limits (Limits). A
// change made through an Admin holding this cache takes effect here at
// once; another instance sees it within TTL.
type SettingsCache struct {
	Source SettingsSource
	TTL    time.Duration    // 0: DefaultLimitsTTL
	Size   int              // 0: DefaultLimitsSize
	Now    func() time.Time // nil: time.Now

	cache merchantCache[[]byte]
}

// RiskSettings is the Source's answer, cached.
func (c *SettingsCache) RiskSettings(ctx context.Context, merchantID string) ([]byte, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	return c.cache.get(ctx, merchantID, now, c.TTL, c.Size, func(ctx context.Context) ([]byte, error) {
		return c.Source.RiskSettings(ctx, merchantID)
	})
}

// Forget drops the merchant's cached settings; a nil cache has none.
func (c *SettingsCache) Forget(merchantID string) {
	if c != nil {
		c.cache.forget(merchantID)
	}
}
