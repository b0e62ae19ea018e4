package risk

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// memSettings is a SettingsStore in memory that counts its reads and can
// be made to fail.
type memSettings struct {
	mu       sync.Mutex
	settings map[string][]byte
	fail     error
	reads    atomic.Int64
}

func (m *memSettings) RiskSettings(_ context.Context, merchantID string) ([]byte, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings[merchantID], m.fail
}

func (m *memSettings) PutRiskSettings(_ context.Context, merchantID string, settings []byte, _ checkout.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settings == nil {
		m.settings = map[string][]byte{}
	}
	m.settings[merchantID] = settings
	return nil
}

func reviewAt(t *testing.T, src SettingsSource, merchantID string) int {
	t.Helper()
	s, err := LoadSettings(t.Context(), src, merchantID)
	if err != nil {
		t.Fatal(err)
	}
	return s.ReviewScore
}

// Checkouts read a merchant's settings once per TTL; a change through the
// Admin holding the cache is seen at once, one made elsewhere (another
// instance) within the TTL; an error is answered, not kept.
func TestSettingsCache(t *testing.T) {
	clock := &testClock{t: gt0}
	store := &memSettings{}
	cache := &SettingsCache{Source: store, Now: clock.Now}
	admin := &Admin{Settings: store, Cached: cache, Now: clock.Now}
	def := DefaultSettings().ReviewScore

	for range 5 {
		if got := reviewAt(t, cache, "mer_a"); got != def {
			t.Fatalf("review score = %d; want the default %d", got, def)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d reads within the TTL; want 1", n)
	}

	changed := DefaultSettings()
	changed.ReviewScore = def - 10
	if _, err := admin.PutSettings(t.Context(), "dashboard", "mer_a", changed); err != nil {
		t.Fatal(err)
	}
	if got := reviewAt(t, cache, "mer_a"); got != changed.ReviewScore {
		t.Fatalf("after the Admin's change: %d; want %d at once", got, changed.ReviewScore)
	}

	// Another instance's change: the cached value until the TTL ends.
	elsewhere := DefaultSettings()
	elsewhere.ReviewScore = def - 20
	b, _ := json.Marshal(elsewhere)
	store.PutRiskSettings(t.Context(), "mer_a", b, checkout.AuditEntry{})
	clock.Advance(DefaultLimitsTTL - time.Millisecond)
	if got := reviewAt(t, cache, "mer_a"); got != changed.ReviewScore {
		t.Fatalf("within the TTL: %d; want the cached %d", got, changed.ReviewScore)
	}
	clock.Advance(time.Millisecond)
	if got := reviewAt(t, cache, "mer_a"); got != elsewhere.ReviewScore {
		t.Fatalf("after the TTL: %d; want %d", got, elsewhere.ReviewScore)
	}

	store.fail = errors.New("store down")
	if _, err := cache.RiskSettings(t.Context(), "mer_b"); err == nil {
		t.Fatal("a failed read answered no error")
	}
	store.fail = nil
	if _, err := cache.RiskSettings(t.Context(), "mer_b"); err != nil {
		t.Fatalf("the error was kept: %v", err)
	}
}
