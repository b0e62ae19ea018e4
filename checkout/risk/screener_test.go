package risk

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// settingsSource serves stored settings JSON per merchant.
type settingsSource map[string][]byte

func (s settingsSource) RiskSettings(_ context.Context, merchantID string) ([]byte, error) {
	if b, ok := s[merchantID]; ok {
		return b, nil
	}
	return nil, &checkout.Error{Code: checkout.ENOTFOUND, Message: "no such merchant"}
}

func TestLoadSettings(t *testing.T) {
	src := settingsSource{
		"mer_default": nil,
		// Saved before a setting existed, or partially: the rest are defaults.
		"mer_partial": []byte(`{"review_score":30,"ng_score":60,"cards_per_ip":{"max":1}}`),
		"mer_broken":  []byte(`{"review_score":"x"}`),
	}
	got, err := LoadSettings(t.Context(), src, "mer_default")
	if err != nil || got.ReviewScore != DefaultSettings().ReviewScore {
		t.Fatalf("defaults: %+v, %v", got, err)
	}
	got, err = LoadSettings(t.Context(), src, "mer_partial")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultSettings()
	if got.ReviewScore != 30 || got.CardsPerIP.Max != 1 || got.CardsPerIP.Window != def.CardsPerIP.Window ||
		got.CardsPerEmail != def.CardsPerEmail || len(got.Amounts) != len(def.Amounts) {
		t.Fatalf("partial settings over the defaults: %+v", got)
	}
	if _, err := LoadSettings(t.Context(), src, "mer_broken"); err == nil {
		t.Fatal("broken stored settings loaded")
	}
	if _, err := LoadSettings(t.Context(), src, "mer_missing"); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("missing merchant: %v", err)
	}
}

// The Screener applies each merchant's own settings to shared counters.
func TestScreenerPerMerchantSettings(t *testing.T) {
	e := newEnv()
	strict := DefaultSettings()
	strict.CardsPerIP = Velocity{Max: 1, Window: Duration(time.Hour), Score: strict.NGScore}
	strictJSON := mustJSON(t, strict)
	sc := &Screener{Settings: settingsSource{"mer_a": strictJSON, "mer_b": nil}, Counters: e.c, Lists: e.l}
	var _ checkout.Screener = sc

	in := baseInput()
	in.MerchantID, in.Fingerprint = "mer_b", "fp_1"
	if d, err := sc.Screen(t.Context(), in); err != nil || d.Verdict != OK {
		t.Fatalf("first card at mer_b: %+v, %v", d, err)
	}
	// The second card from the IP, at the strict merchant: NG there, while
	// the same count is fine under mer_b's defaults.
	in.MerchantID, in.Fingerprint = "mer_a", "fp_2"
	d, err := sc.Screen(t.Context(), in)
	if err != nil || d.Verdict != NG || !d.Has(RuleIPCards) {
		t.Fatalf("second card at mer_a: %+v, %v", d, err)
	}
	in.MerchantID, in.Fingerprint = "mer_b", "fp_3"
	if d, err := sc.Screen(t.Context(), in); err != nil || d.Has(RuleIPCards) {
		t.Fatalf("third card at mer_b: %+v, %v; want under its threshold of 3", d, err)
	}

	// Rescreen counts a decline against the card.
	in.Fingerprint = "fp_declined"
	prev, _ := sc.Screen(t.Context(), in)
	for range 3 {
		if _, err := sc.Rescreen(t.Context(), prev, in, AuthOutcome{DeclineReason: checkout.DeclineGeneric}); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := sc.Screen(t.Context(), in); !d.Has(RuleCardFailedAuths) {
		t.Fatalf("after three declines: %+v; want %s", d, RuleCardFailedAuths)
	}
}

// countingSettings counts the settings loads, each a round trip on
// PostgreSQL.
type countingSettings struct {
	settingsSource
	loads int
}

func (c *countingSettings) RiskSettings(ctx context.Context, merchantID string) ([]byte, error) {
	c.loads++
	return c.settingsSource.RiskSettings(ctx, merchantID)
}

// An approval whose answer scores nothing keeps the decision without
// loading the settings again; an answer that scores loads them.
func TestRescreenLoadsSettingsOnlyWhenTheAnswerScores(t *testing.T) {
	e := newEnv()
	src := &countingSettings{settingsSource: settingsSource{"mer_a": nil}}
	sc := &Screener{Settings: src, Counters: e.c, Lists: e.l}
	in := baseInput()
	prev, err := sc.Screen(t.Context(), in)
	if err != nil || src.loads != 1 {
		t.Fatalf("Screen: %+v, %v, %d loads", prev, err, src.loads)
	}
	tests := []struct {
		name  string
		out   AuthOutcome
		loads int
		rule  string // the reason the answer adds; "" none
	}{
		{"approved, code checked", AuthOutcome{Approved: true, CVCCheck: checkout.CVCPass}, 0, ""},
		{"approved, X", AuthOutcome{Approved: true, CVCCheck: checkout.CVCCheckNone}, 0, ""},
		{"approved, code unchecked", AuthOutcome{Approved: true, CVCCheck: checkout.CVCUnchecked}, 1, RuleCVCUnchecked},
		{"approved, wrong code", AuthOutcome{Approved: true, CVCCheck: checkout.CVCFail}, 1, RuleCVCMismatch},
		{"declined", AuthOutcome{DeclineReason: checkout.DeclineGeneric, CVCCheck: checkout.CVCPass}, 1, RuleAuthDeclined},
	}
	for _, tt := range tests {
		src.loads = 0
		d, err := sc.Rescreen(t.Context(), prev, in, tt.out)
		if err != nil || src.loads != tt.loads {
			t.Errorf("%s: %v, %d settings loads; want %d", tt.name, err, src.loads, tt.loads)
		}
		if tt.rule == "" && (d.Verdict != prev.Verdict || len(d.Reasons) != len(prev.Reasons)) {
			t.Errorf("%s: %+v; want the decision unchanged %+v", tt.name, d, prev)
		}
		if tt.rule != "" && !d.Has(tt.rule) {
			t.Errorf("%s: %+v; want %s", tt.name, d, tt.rule)
		}
	}
}

func TestScreenerFailsClosed(t *testing.T) {
	in := baseInput()
	for name, sc := range map[string]*Screener{
		"nil":              nil,
		"no counters":      {Settings: settingsSource{"mer_a": nil}, Lists: NewMemoryLists()},
		"settings missing": {Settings: settingsSource{}, Counters: NewMemoryCounters(MaxWindow), Lists: NewMemoryLists()},
		"counters down":    {Settings: settingsSource{"mer_a": nil}, Counters: failing{record: true}, Lists: NewMemoryLists()},
	} {
		if d, err := sc.Screen(context.Background(), in); err == nil || d.Verdict != "" {
			t.Errorf("%s: Screen = %+v, %v; want an error and no decision", name, d, err)
		}
		if _, err := sc.Rescreen(context.Background(), Decision{Verdict: OK}, in, AuthOutcome{}); err == nil {
			t.Errorf("%s: Rescreen succeeded", name)
		}
	}
	sc := &Screener{Settings: settingsSource{"mer_a": nil}, Counters: failing{record: true}, Lists: NewMemoryLists()}
	in.ExpYear = 2020
	if err := sc.RecordExpired(context.Background(), in); !errors.Is(err, errDown) {
		t.Errorf("RecordExpired with counters down: %v", err)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// roundTrips counts the counters' round trips: each Record, Count or
// RecordAndCount call.
type roundTrips struct {
	*MemoryCounters
	n int
}

func (r *roundTrips) Record(ctx context.Context, events []Event) error {
	r.n++
	return r.MemoryCounters.Record(ctx, events)
}

func (r *roundTrips) Count(ctx context.Context, queries []Query) ([]int, error) {
	r.n++
	return r.MemoryCounters.Count(ctx, queries)
}

func (r *roundTrips) RecordAndCount(ctx context.Context, events []Event, queries []Query) ([]int, error) {
	r.n++
	if err := r.MemoryCounters.Record(ctx, events); err != nil {
		return nil, err
	}
	return r.MemoryCounters.Count(ctx, queries)
}

// AdmitAndScreen decides as Admit then Screen would, in one round trip of
// the counters; a refused submission is not screened, a locked card not
// counted, and a completion counted by screening only.
func TestAdmitAndScreenCountsOnce(t *testing.T) {
	gs := DefaultGuardSettings()
	gs.IP = Limit{Max: 2, Window: time.Hour}
	counters := &roundTrips{MemoryCounters: NewMemoryCounters(MaxWindow)}
	locks := &memLocks{}
	g := &Guard{Counters: counters, Locks: locks, Budget: locks, Settings: gs}
	sc := &Screener{Settings: settingsSource{"mer_a": nil}, Counters: counters, Lists: NewMemoryLists()}

	in := baseInput()
	for i, fp := range []string{"fp_1", "fp_2"} {
		in.Fingerprint = fp
		gin := checkout.GuardInput{MerchantID: in.MerchantID, SessionID: checkout.NewID("cs"), IP: in.IP, Fingerprint: fp, Time: in.Time}
		before := counters.n
		v, d, err := sc.AdmitAndScreen(t.Context(), g, gin, in)
		if err != nil || v.Rule != "" || d.Verdict == "" {
			t.Fatalf("card %d: %+v %+v %v; want admitted and screened", i+1, v, d, err)
		}
		if trips := counters.n - before; trips != 1 {
			t.Fatalf("card %d took %d round trips of the counters; want 1", i+1, trips)
		}
	}

	// A third card from the IP trips its limit: refused, not screened.
	in.Fingerprint = "fp_3"
	gin := checkout.GuardInput{MerchantID: in.MerchantID, SessionID: checkout.NewID("cs"), IP: in.IP, Fingerprint: "fp_3", Time: in.Time}
	v, d, err := sc.AdmitAndScreen(t.Context(), g, gin, in)
	if err != nil || v.Rule != checkout.RuleRateLimitIP || d.Verdict != "" {
		t.Fatalf("third card: %+v %+v %v; want %s and no screening decision", v, d, err, checkout.RuleRateLimitIP)
	}

	// A locked card: refused before anything is counted.
	if err := locks.LockCard(t.Context(), "fp_locked", in.Time, in.Time.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, rows := counters.n, counters.Len()
	gin.Fingerprint, in.Fingerprint, gin.IP = "fp_locked", "fp_locked", netip.MustParseAddr("198.51.100.9")
	v, _, err = sc.AdmitAndScreen(t.Context(), g, gin, in)
	if err != nil || !v.Locked || counters.n != before || counters.Len() != rows {
		t.Fatalf("locked card: %+v %v, %d round trips, %d events added; want locked, nothing counted", v, err, counters.n-before, counters.Len()-rows)
	}

	// A guard that is not a *Guard is asked on its own.
	other := refusingGuard{}
	if v, _, err := sc.AdmitAndScreen(t.Context(), other, gin, in); err != nil || v.Rule != checkout.RuleRateLimitSession {
		t.Fatalf("another Guard: %+v %v; want its own verdict", v, err)
	}
}

// refusingGuard is a checkout.Guard that refuses every submission.
type refusingGuard struct{ checkout.Guard }

func (refusingGuard) Admit(context.Context, checkout.GuardInput) (checkout.GuardVerdict, error) {
	return checkout.GuardVerdict{Rule: checkout.RuleRateLimitSession}, nil
}

// roundStore is a store that keeps the counters, the lists and the card
// locks (risk.RoundTripper), counting its round trips and its Match and
// CardLock calls of their own.
type roundStore struct {
	roundTrips
	*MemoryLists
	*memLocks
	matches, lockReads int
}

func (s *roundStore) Match(ctx context.Context, merchantID string, keys []ListKey) ([]ListMatch, error) {
	s.matches++
	return s.MemoryLists.Match(ctx, merchantID, keys)
}

func (s *roundStore) CardLock(ctx context.Context, fingerprint string) (CardLock, bool, error) {
	s.lockReads++
	return s.memLocks.CardLock(ctx, fingerprint)
}

func (s *roundStore) RoundTrip(ctx context.Context, r Round) (RoundAnswer, error) {
	s.n++
	if l, found, err := s.memLocks.CardLock(ctx, r.Card); err != nil || found && l.LockedUntil.After(r.At) {
		return RoundAnswer{Locked: err == nil}, err
	}
	if err := s.MemoryCounters.Record(ctx, r.Events); err != nil {
		return RoundAnswer{}, err
	}
	counts, err := s.MemoryCounters.Count(ctx, r.Queries)
	if err != nil {
		return RoundAnswer{}, err
	}
	matches, err := s.MemoryLists.Match(ctx, r.MerchantID, r.Keys)
	return RoundAnswer{Counts: counts, Matches: matches}, err
}

// A store that keeps the counters, the locks and the lists answers the
// lock, the counts and the blocklists in screening's one round trip; kept
// apart, they are asked one after the other.
func TestScreeningIsOneRoundTrip(t *testing.T) {
	store := &roundStore{roundTrips: roundTrips{MemoryCounters: NewMemoryCounters(MaxWindow)}, MemoryLists: NewMemoryLists(), memLocks: &memLocks{}}
	if _, err := store.MemoryLists.Add("mer_a", ListCard, "fp_listed"); err != nil {
		t.Fatal(err)
	}
	g := &Guard{Counters: store, Locks: store, Budget: store, Settings: DefaultGuardSettings()}
	in := baseInput()
	in.Fingerprint = "fp_listed"
	gin := checkout.GuardInput{MerchantID: in.MerchantID, SessionID: in.SessionID, IP: in.IP, Fingerprint: in.Fingerprint, Time: in.Time}

	together := &Screener{Settings: settingsSource{"mer_a": nil}, Counters: store, Lists: store}
	v, d, err := together.AdmitAndScreen(t.Context(), g, gin, in)
	if err != nil || v.Rule != "" || !d.Has(RuleBlocklistCard) {
		t.Fatalf("one store: %+v %+v %v; want admitted and %s", v, d, err, RuleBlocklistCard)
	}
	if store.n != 1 || store.matches != 0 || store.lockReads != 0 {
		t.Errorf("one store: %d round trips, %d Match and %d CardLock calls; want 1 and none", store.n, store.matches, store.lockReads)
	}

	// A locked card: one round trip, nothing counted, not screened.
	if err := store.LockCard(t.Context(), "fp_locked", in.Time, in.Time.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	store.n, gin.Fingerprint, in.Fingerprint = 0, "fp_locked", "fp_locked"
	rows := store.Len()
	if v, d, err := together.AdmitAndScreen(t.Context(), g, gin, in); err != nil || !v.Locked || d.Verdict != "" {
		t.Fatalf("locked card: %+v %+v %v; want locked and not screened", v, d, err)
	}
	if store.n != 1 || store.Len() != rows {
		t.Errorf("locked card: %d round trips, %d events added; want 1 and none", store.n, store.Len()-rows)
	}

	store.n, gin.Fingerprint, in.Fingerprint = 0, "fp_listed", "fp_listed"
	apart := &Screener{Settings: settingsSource{"mer_a": nil}, Counters: &store.roundTrips, Lists: store}
	gin.SessionID = checkout.NewID("cs")
	if _, d, err := apart.AdmitAndScreen(t.Context(), g, gin, in); err != nil || !d.Has(RuleBlocklistCard) {
		t.Fatalf("counters and lists apart: %+v %v; want %s", d, err, RuleBlocklistCard)
	}
	if store.n != 1 || store.matches != 1 || store.lockReads != 1 {
		t.Errorf("counters and lists apart: %d round trips, %d Match and %d CardLock calls; want 1 each", store.n, store.matches, store.lockReads)
	}
}
