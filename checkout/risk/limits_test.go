package risk

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// memLimits is a LimitStore in memory that counts its reads: the Guard's
// cache must keep them to one per merchant per TTL.
type memLimits struct {
	mu     sync.Mutex
	layers map[string]map[string][]byte // merchant -> layer -> JSON
	audit  []checkout.AuditEntry
	reads  atomic.Int64
}

func (m *memLimits) MerchantLimits(_ context.Context, merchantID string) (operator, merchant []byte, err error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.layers[merchantID][LayerOperator], m.layers[merchantID][LayerMerchant], nil
}

func (m *memLimits) PutMerchantLimits(_ context.Context, merchantID, layer string, limits []byte, a checkout.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.layers == nil {
		m.layers = map[string]map[string][]byte{}
	}
	if m.layers[merchantID] == nil {
		m.layers[merchantID] = map[string][]byte{}
	}
	a.Before = m.layers[merchantID][layer]
	if limits == nil {
		delete(m.layers[merchantID], layer)
	} else {
		m.layers[merchantID][layer] = limits
	}
	m.audit = append(m.audit, a)
	return nil
}

func (m *memLimits) PutRiskSettingsAndLimits(ctx context.Context, merchantID string, _ []byte, sa checkout.AuditEntry, limits []byte, la checkout.AuditEntry) error {
	m.mu.Lock()
	m.audit = append(m.audit, sa)
	m.mu.Unlock()
	return m.PutMerchantLimits(ctx, merchantID, LayerMerchant, limits, la)
}

func ptr[T any](v T) *T { return &v }

// A clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// attempt is the n-th submission of a run: its own session, card and IP,
// so that only the merchant's limit can stop it.
func attempt(merchantID string, n int, at time.Time) checkout.GuardInput {
	return checkout.GuardInput{MerchantID: merchantID, SessionID: fmt.Sprintf("cs_%s_%d", merchantID, n),
		IP: netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), Fingerprint: fmt.Sprintf("fp_%s_%d", merchantID, n), Time: at}
}

// Merchant A, whose limit the operator raised, admits beyond the
// platform's 120 attempts a minute; merchant B, on the platform's limits,
// is refused at the 121st. The store is read once per merchant.
func TestGuardPerMerchantLimit(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: gt0}
	store := &memLimits{}
	limits := &Limits{Store: store, Platform: DefaultGuardSettings().RateLimits(), Now: clock.Now}
	if _, err := limits.SetOperator(ctx, OperatorActor, "mer_a", LimitOverrides{Merchant: LimitOverride{Max: ptr(600)}}); err != nil {
		t.Fatalf("SetOperator: %v", err)
	}
	g := newGuard(DefaultGuardSettings())
	g.Limits = limits

	for _, m := range []string{"mer_a", "mer_b"} {
		for i := range 130 {
			v, err := g.Admit(ctx, attempt(m, i, gt0.Add(time.Duration(i)*100*time.Millisecond)))
			if err != nil {
				t.Fatalf("%s attempt %d: %v", m, i+1, err)
			}
			refused := v.Rule != ""
			if want := m == "mer_b" && i >= 120; refused != want || (refused && v.Rule != checkout.RuleRateLimitMerchant) {
				t.Fatalf("%s attempt %d: rule %q; want refused=%v by %s", m, i+1, v.Rule, want, checkout.RuleRateLimitMerchant)
			}
		}
	}
	if n := store.reads.Load(); n != 2+1 { // one read each; one by SetOperator
		t.Fatalf("%d store reads for 260 attempts; want one per merchant", n)
	}
}

// Counts are global, thresholds the merchant's: one IP is counted across
// merchants, and each merchant refuses it at its own threshold.
func TestGuardPerMerchantThresholdsOverGlobalCounts(t *testing.T) {
	ctx := context.Background()
	limits := &Limits{Store: &memLimits{}, Platform: DefaultGuardSettings().RateLimits()} // 10 per IP per 10 minutes
	if _, err := limits.SetOperator(ctx, OperatorActor, "mer_a", LimitOverrides{IP: LimitOverride{Max: ptr(15)}}); err != nil {
		t.Fatal(err)
	}
	g := newGuard(DefaultGuardSettings())
	g.Limits = limits
	try := func(m string, n int) string {
		in := attempt(m, n, gt0.Add(time.Duration(n)*time.Second))
		in.IP = netip.MustParseAddr("203.0.113.9")
		v, err := g.Admit(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return v.Rule
	}
	for i := range 10 {
		if r := try("mer_b", i); r != "" {
			t.Fatalf("mer_b attempt %d refused by %s", i+1, r)
		}
	}
	if r := try("mer_b", 10); r != checkout.RuleRateLimitIP {
		t.Fatalf("mer_b's 11th from the IP: %q; want %s", r, checkout.RuleRateLimitIP)
	}
	// 11 counted already: mer_a admits up to its 15.
	for i := 11; i < 15; i++ {
		if r := try("mer_a", i); r != "" {
			t.Fatalf("attempt %d at mer_a refused by %s", i+1, r)
		}
	}
	if r := try("mer_a", 15); r != checkout.RuleRateLimitIP {
		t.Fatalf("16th from the IP at mer_a: %q; want %s", r, checkout.RuleRateLimitIP)
	}
}

// The cache: a merchant's limits are read once per TTL; a change through
// the same Limits applies at once; the cache stays within its size.
func TestLimitsCache(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: gt0}
	store := &memLimits{}
	limits := &Limits{Store: store, Platform: DefaultGuardSettings().RateLimits(), Now: clock.Now, Size: 3}
	for range 50 {
		if r, err := limits.For(ctx, "mer_a"); err != nil || r.Merchant.Max != 120 {
			t.Fatalf("For: %+v %v", r, err)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d reads within the TTL; want 1", n)
	}
	// Another process (the operator's command) changes the store: seen
	// within the TTL, not before.
	other := &Limits{Store: store, Platform: limits.Platform}
	if _, err := other.SetOperator(ctx, OperatorActor, "mer_a", LimitOverrides{Merchant: LimitOverride{Max: ptr(1000)}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultLimitsTTL - time.Millisecond)
	if r, _ := limits.For(ctx, "mer_a"); r.Merchant.Max != 120 {
		t.Fatalf("within the TTL: %d; want the cached 120", r.Merchant.Max)
	}
	clock.Advance(time.Millisecond)
	if r, _ := limits.For(ctx, "mer_a"); r.Merchant.Max != 1000 {
		t.Fatalf("after the TTL: %d; want 1000", r.Merchant.Max)
	}
	// A change through this Limits: at once.
	if _, _, err := limits.ResetOperator(ctx, OperatorActor, "mer_a"); err != nil {
		t.Fatal(err)
	}
	if r, _ := limits.For(ctx, "mer_a"); r.Merchant.Max != 120 {
		t.Fatalf("after the reset: %d; want 120", r.Merchant.Max)
	}
	for i := range 10 {
		limits.For(ctx, fmt.Sprintf("mer_%d", i))
	}
	limits.cache.mu.Lock()
	n := len(limits.cache.entries)
	limits.cache.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d merchants cached; want at most 3", n)
	}

	// Many at once for a merchant not cached: one read.
	before := store.reads.Load()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { limits.For(ctx, "mer_many") })
	}
	wg.Wait()
	if n := store.reads.Load() - before; n != 1 {
		t.Fatalf("%d reads for 20 concurrent misses; want 1", n)
	}
}

// The operator's layer replaces the platform's values it gives, within the
// ranges of GuardSettings.Validate; the merchant's may only tighten it.
func TestLimitLayers(t *testing.T) {
	ctx := context.Background()
	platform := DefaultGuardSettings().RateLimits()
	limits := &Limits{Store: &memLimits{}, Platform: platform}
	for _, tc := range []struct {
		name  string
		o     LimitOverrides
		field string
	}{
		{"nothing", LimitOverrides{}, ""},
		{"negative max", LimitOverrides{IP: LimitOverride{Max: ptr(-1)}}, "card_testing.ip.max"},
		{"max too large", LimitOverrides{Merchant: LimitOverride{Max: ptr(MaxLimit + 1)}}, "card_testing.merchant.max"},
		{"window too short", LimitOverrides{Card: LimitOverride{Window: ptr(Duration(time.Millisecond))}}, "card_testing.card.window"},
		{"window too long", LimitOverrides{Chunk: LimitOverride{Window: ptr(Duration(MaxWindow + time.Hour))}}, "card_testing.chunk.window"},
	} {
		_, err := limits.SetOperator(ctx, OperatorActor, "mer_x", tc.o)
		var e *checkout.Error
		if !asError(err, &e) || e.Code != checkout.EINVALID || e.Field != tc.field || e.Message == "" {
			t.Errorf("%s: %v; want invalid %q", tc.name, err, tc.field)
		}
	}
	if ob, _, _ := limits.Store.MerchantLimits(ctx, "mer_x"); ob != nil {
		t.Fatalf("a refused set stored %s", ob)
	}
	// Set replaces the whole layer: what it leaves out is the platform's.
	limits.SetOperator(ctx, OperatorActor, "mer_x", LimitOverrides{IP: LimitOverride{Max: ptr(20)}})
	got, err := limits.SetOperator(ctx, OperatorActor, "mer_x", LimitOverrides{Merchant: LimitOverride{Max: ptr(600), Window: ptr(Duration(2 * time.Minute))}, Chunk: LimitOverride{Max: ptr(0)}})
	want := platform
	want.Merchant, want.Chunk.Max = Limit{Max: 600, Window: 2 * time.Minute}, 0
	if err != nil || got != want {
		t.Fatalf("SetOperator = %+v, %v; want %+v", got, err, want)
	}

	ceiling := want // merchant 600/2m, ip 10/10m, session 5/24h, card 5/1h, chunk off
	for _, tc := range []struct {
		name  string
		o     LimitOverrides
		field string // "" when accepted
		in    RateLimits
	}{
		{"nothing", LimitOverrides{}, "", ceiling},
		{"lower max", LimitOverrides{Merchant: LimitOverride{Max: ptr(300)}}, "", with(ceiling, func(r *RateLimits) { r.Merchant.Max = 300 })},
		{"longer window", LimitOverrides{IP: LimitOverride{Window: ptr(Duration(time.Hour))}}, "", with(ceiling, func(r *RateLimits) { r.IP.Window = time.Hour })},
		{"the operator's own values", LimitOverrides{Merchant: LimitOverride{Max: ptr(600), Window: ptr(Duration(2 * time.Minute))}}, "", ceiling},
		{"on where the operator has it off", LimitOverrides{Chunk: LimitOverride{Max: ptr(3), Window: ptr(Duration(30 * time.Minute))}}, "", with(ceiling, func(r *RateLimits) { r.Chunk = Limit{Max: 3, Window: 30 * time.Minute} })},
		{"off where the operator has it off", LimitOverrides{Chunk: LimitOverride{Max: ptr(0)}}, "", ceiling},
		{"higher max", LimitOverrides{Merchant: LimitOverride{Max: ptr(601)}}, "card_testing.merchant.max", RateLimits{}},
		{"off", LimitOverrides{Card: LimitOverride{Max: ptr(0)}}, "card_testing.card.max", RateLimits{}},
		{"shorter window", LimitOverrides{Session: LimitOverride{Window: ptr(Duration(time.Hour))}}, "card_testing.session.window", RateLimits{}},
		{"out of range", LimitOverrides{IP: LimitOverride{Max: ptr(-3)}}, "card_testing.ip.max", RateLimits{}},
	} {
		next, _, in, err := limits.merchantLayer(ctx, "mer_x", tc.o)
		if tc.field != "" {
			var e *checkout.Error
			if !asError(err, &e) || e.Code != checkout.EINVALID || e.Field != tc.field || e.Message == "" {
				t.Errorf("%s: %v; want invalid %q", tc.name, err, tc.field)
			}
			continue
		}
		if err != nil || in != tc.in {
			t.Errorf("%s: in force %+v, %v; want %+v", tc.name, in, err, tc.in)
		}
		if tc.name == "the operator's own values" && next != nil {
			t.Errorf("values equal to the operator's were kept as the merchant's: %s", next)
		}
	}

	// The operator loosens later: the merchant's stricter value holds; the
	// operator tightens below it: the operator's holds.
	strict := LimitOverrides{Merchant: LimitOverride{Max: ptr(300)}}
	if r := strict.Within(LimitOverrides{Merchant: LimitOverride{Max: ptr(5000)}}.Over(platform)); r.Merchant.Max != 300 {
		t.Fatalf("merchant's 300 under the operator's 5000: %d", r.Merchant.Max)
	}
	if r := strict.Within(LimitOverrides{Merchant: LimitOverride{Max: ptr(50)}}.Over(platform)); r.Merchant.Max != 50 {
		t.Fatalf("merchant's 300 under the operator's 50: %d", r.Merchant.Max)
	}
}

func with(r RateLimits, f func(*RateLimits)) RateLimits {
	f(&r)
	return r
}

func asError(err error, target **checkout.Error) bool {
	e, ok := err.(*checkout.Error)
	if ok {
		*target = e
	}
	return ok
}
