package risk

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// memLocks is CardLocks and LockoutBudget in memory, for the Guard's rule
// tests; the stores' implementations are tested in checkout/storetest.
type memLocks struct {
	mu    sync.Mutex
	locks map[string]CardLock
	slots map[string]memSlot
}

func (m *memLocks) LockCard(_ context.Context, fp string, at, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]CardLock{}
	}
	l := m.locks[fp]
	l.Fingerprint = fp
	if !l.LockedUntil.After(at) {
		l.LockedAt = at
	}
	if until.After(l.LockedUntil) {
		l.LockedUntil = until
	}
	m.locks[fp] = l
	return nil
}

func (m *memLocks) CardLock(_ context.Context, fp string) (CardLock, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[fp]
	return l, ok, nil
}

func (m *memLocks) UnlockCard(_ context.Context, fp string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[fp]
	if !ok || !l.LockedUntil.After(at) {
		return false, nil
	}
	l.LockedUntil, l.UnlockedAt = at, at
	m.locks[fp] = l
	return true, nil
}

func (m *memLocks) LockedCards(_ context.Context, at time.Time) ([]CardLock, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []CardLock
	for _, l := range m.locks {
		if l.LockedUntil.After(at) {
			out = append(out, l)
		}
	}
	return out, nil
}

// memSlot is one LockoutSlot as memLocks keeps it.
type memSlot struct {
	fp        string
	at, until time.Time
	failed    bool
}

// since is the start of fp's failure window: the later of since and the
// end of fp's last lock, if it has ended at at. m.mu is held.
func (m *memLocks) since(fp string, since, at time.Time) time.Time {
	if l, ok := m.locks[fp]; ok && !l.LockedUntil.After(at) && l.LockedUntil.After(since) {
		return l.LockedUntil
	}
	return since
}

func (m *memLocks) ReserveSlot(_ context.Context, s LockoutSlot) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.locks[s.Fingerprint]; ok && l.LockedUntil.After(s.At) {
		return SlotLocked, nil
	}
	since, taken := m.since(s.Fingerprint, s.Since, s.At), 0
	for _, sl := range m.slots {
		if sl.fp == s.Fingerprint && ((sl.failed && !sl.at.Before(since)) || (!sl.failed && sl.until.After(s.At))) {
			taken++
		}
	}
	if taken >= s.Max {
		return SlotFull, nil
	}
	if m.slots == nil {
		m.slots = map[string]memSlot{}
	}
	m.slots[s.ID] = memSlot{fp: s.Fingerprint, at: s.At, until: s.Until}
	return SlotGranted, nil
}

func (m *memLocks) FailSlot(ctx context.Context, s LockoutSlot, lockUntil time.Time) (bool, error) {
	m.mu.Lock()
	if m.slots == nil {
		m.slots = map[string]memSlot{}
	}
	m.slots[s.ID] = memSlot{fp: s.Fingerprint, at: s.At, until: s.Until, failed: true}
	since, failures := m.since(s.Fingerprint, s.Since, s.At), 0
	for _, sl := range m.slots {
		if sl.fp == s.Fingerprint && sl.failed && !sl.at.Before(since) {
			failures++
		}
	}
	m.mu.Unlock()
	if failures < s.Max {
		return false, nil
	}
	return true, m.LockCard(ctx, s.Fingerprint, s.At, lockUntil)
}

func (m *memLocks) ReleaseSlot(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.slots[id].failed {
		delete(m.slots, id)
	}
	return nil
}

func newGuard(s GuardSettings) *Guard {
	locks := &memLocks{}
	return &Guard{Counters: NewMemoryCounters(MaxWindow), Locks: locks, Budget: locks, Settings: s}
}

// mustFail takes a lockout slot for in (a new attempt each call) and
// settles it as a wrong security code.
func mustFail(tb testing.TB, g *Guard, in checkout.GuardInput) {
	tb.Helper()
	in.Attempt = checkout.NewID("cs") + ":1"
	if v, err := g.Reserve(context.Background(), in, in.Time.Add(time.Minute)); err != nil || v.Rule != "" {
		tb.Fatalf("Reserve: %+v %v; want a slot", v, err)
	}
	if err := g.Settle(context.Background(), in, true); err != nil {
		tb.Fatalf("Settle: %v", err)
	}
}

var gt0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func guardIn(fp, session, ip string, at time.Time) checkout.GuardInput {
	return checkout.GuardInput{MerchantID: "mer_1", SessionID: session, IP: netip.MustParseAddr(ip), Fingerprint: fp, Time: at}
}

func TestGuardLockout(t *testing.T) {
	ctx := context.Background()
	g := newGuard(DefaultGuardSettings())
	in := guardIn("fp_a", "cs_1", "203.0.113.5", gt0)
	for i := range 2 {
		in.Time = gt0.Add(time.Duration(i) * time.Minute)
		mustFail(t, g, in)
		if v, err := g.Admit(ctx, in); err != nil || v.Locked {
			t.Fatalf("after %d failures: %+v %v, want not locked", i+1, v, err)
		}
	}
	// Another session, merchant and IP: the lock is the card's.
	in = checkout.GuardInput{MerchantID: "mer_2", SessionID: "cs_2", IP: netip.MustParseAddr("198.51.100.7"), Fingerprint: "fp_a", Time: gt0.Add(time.Hour)}
	mustFail(t, g, in)
	v, err := g.Admit(ctx, in)
	if err != nil || !v.Locked || v.Rule != checkout.RuleLockoutCVC {
		t.Fatalf("after 3 failures: %+v %v, want locked by %s", v, err, checkout.RuleLockoutCVC)
	}
	// Another card is not locked.
	if v, _ := g.Admit(ctx, guardIn("fp_b", "cs_3", "198.51.100.8", in.Time)); v.Locked {
		t.Fatal("another card was locked")
	}
	// Still locked just before the period ends, free after.
	if v, _ := g.Admit(ctx, guardIn("fp_a", "cs_4", "198.51.100.9", in.Time.Add(24*time.Hour-time.Second))); !v.Locked {
		t.Fatal("lock ended early")
	}
	if v, _ := g.Admit(ctx, guardIn("fp_a", "cs_5", "198.51.100.10", in.Time.Add(24*time.Hour+time.Second))); v.Locked {
		t.Fatal("lock did not end")
	}
}

func TestGuardUnlockForgetsFailures(t *testing.T) {
	ctx := context.Background()
	g := newGuard(DefaultGuardSettings())
	in := guardIn("fp_a", "cs_1", "203.0.113.5", gt0)
	for range 3 {
		mustFail(t, g, in)
	}
	if ok, _ := g.Locks.UnlockCard(ctx, "fp_a", gt0.Add(time.Minute)); !ok {
		t.Fatal("unlock: not locked")
	}
	in.Time = gt0.Add(2 * time.Minute)
	if v, _ := g.Admit(ctx, in); v.Locked {
		t.Fatal("still locked after unlock")
	}
	// One more failure does not re-lock at once: the earlier ones were forgiven.
	mustFail(t, g, in)
	if v, _ := g.Admit(ctx, in); v.Locked {
		t.Fatal("one failure after unlock locked the card again")
	}
}

func TestGuardRateLimits(t *testing.T) {
	s := GuardSettings{
		LockoutFailures: 3, LockoutWindow: time.Hour, LockoutDuration: time.Hour,
		IP:       Limit{Max: 4, Window: 10 * time.Minute},
		Session:  Limit{Max: 3, Window: time.Hour},
		Merchant: Limit{Max: 6, Window: time.Minute},
		Card:     Limit{Max: 2, Window: time.Hour},
		Chunk:    Limit{Max: 3, Window: time.Hour},
	}
	type try struct {
		fp, chunk, session, ip string
		at                     time.Duration
	}
	tests := map[string]struct {
		tries []try
		want  string // rule of the last try
	}{
		"session":                         {[]try{{"fp_1", "", "cs", "10.0.0.1", 0}, {"fp_2", "", "cs", "10.0.0.2", 0}, {"fp_3", "", "cs", "10.0.0.3", 0}, {"fp_4", "", "cs", "10.0.0.4", 0}}, checkout.RuleRateLimitSession},
		"card":                            {[]try{{"fp_1", "", "cs1", "10.0.0.1", 0}, {"fp_1", "", "cs2", "10.0.0.2", 0}, {"fp_1", "", "cs3", "10.0.0.3", 0}}, checkout.RuleRateLimitCard},
		"card window slides":              {[]try{{"fp_1", "", "cs1", "10.0.0.1", 0}, {"fp_1", "", "cs2", "10.0.0.2", 0}, {"fp_1", "", "cs3", "10.0.0.3", 2 * time.Hour}}, ""},
		"chunk":                           {[]try{{"fp_1", "c", "cs1", "10.0.0.1", 0}, {"fp_2", "c", "cs2", "10.0.0.2", 0}, {"fp_3", "c", "cs3", "10.0.0.3", 0}, {"fp_4", "c", "cs4", "10.0.0.4", 0}}, checkout.RuleRateLimitChunk},
		"chunk counts numbers, not tries": {[]try{{"fp_1", "c", "cs1", "10.0.0.1", 0}, {"fp_1", "c", "cs2", "10.0.0.2", 0}, {"fp_2", "c", "cs3", "10.0.0.3", 0}}, ""},
		"ip":                              {[]try{{"fp_1", "", "cs1", "10.0.0.1", 0}, {"fp_2", "", "cs2", "10.0.0.1", 0}, {"fp_3", "", "cs3", "10.0.0.1", 0}, {"fp_4", "", "cs4", "10.0.0.1", 0}, {"fp_5", "", "cs5", "10.0.0.1", 0}}, checkout.RuleRateLimitIP},
		"merchant":                        {[]try{{"fp_1", "", "a", "10.0.0.1", 0}, {"fp_2", "", "b", "10.0.0.2", 0}, {"fp_3", "", "c", "10.0.0.3", 0}, {"fp_4", "", "d", "10.0.0.4", 0}, {"fp_5", "", "e", "10.0.0.5", 0}, {"fp_6", "", "f", "10.0.0.6", 0}, {"fp_7", "", "g", "10.0.0.7", 0}}, checkout.RuleRateLimitMerchant},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := newGuard(s)
			var v checkout.GuardVerdict
			for i, tr := range tc.tries {
				in := guardIn(tr.fp, tr.session, tr.ip, gt0.Add(tr.at))
				in.Chunk = tr.chunk
				var err error
				if v, err = g.Admit(context.Background(), in); err != nil {
					t.Fatal(err)
				}
				if i < len(tc.tries)-1 && v.Rule != "" {
					t.Fatalf("try %d refused early by %s", i+1, v.Rule)
				}
			}
			if v.Rule != tc.want || v.Locked {
				t.Fatalf("last try: %+v, want rule %q", v, tc.want)
			}
		})
	}
}

func TestGuardNearLimitAndSpend(t *testing.T) {
	ctx := context.Background()
	g := newGuard(DefaultGuardSettings()) // 5 per session, 10 per IP
	for i := range 4 {
		in := guardIn("fp_"+string(rune('a'+i)), "cs", "10.0.0.1", gt0)
		near, err := g.NearLimit(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 4; near != want {
			t.Fatalf("before try %d: near %v, want %v", i+1, near, want)
		}
		if _, err := g.Admit(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if near, _ := g.NearLimit(ctx, guardIn("fp_z", "cs", "10.0.0.1", gt0)); !near {
		t.Fatal("4 attempts on a session of 5: not near its limit")
	}
	if near, _ := g.NearLimit(ctx, guardIn("fp_z", "cs_other", "10.0.0.2", gt0)); near {
		t.Fatal("a fresh session and IP are near a limit")
	}
	if first, err := g.SpendChallenge(ctx, "n1", gt0); err != nil || !first {
		t.Fatalf("first spend: %v %v", first, err)
	}
	if first, _ := g.SpendChallenge(ctx, "n1", gt0.Add(time.Second)); first {
		t.Fatal("a nonce was spent twice")
	}
}

func TestGuardSettingsValidate(t *testing.T) {
	if err := DefaultGuardSettings().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultGuardSettings()
	bad.LockoutFailures = 0
	bad.IP.Window = 0
	if err := bad.Validate(); err == nil {
		t.Fatal("invalid settings accepted")
	}
	// Counted exactly up to MaxCount, except the merchant's bucketed limit.
	high := DefaultGuardSettings()
	high.Merchant.Max = MaxLimit
	if err := high.Validate(); err != nil {
		t.Errorf("the merchant limit at %d: %v", MaxLimit, err)
	}
	high.IP.Max = MaxCount + 1
	if err := high.Validate(); err == nil {
		t.Errorf("an IP limit of %d accepted; its count is exact only to %d", MaxCount+1, MaxCount)
	}
}

// Authorizations in flight take the budget as failures do: a fourth
// reservation while three wait for the issuer is refused (as a lock is),
// and a settled one that was no wrong code frees its slot. Bad input is an
// error, never a slot.
func TestGuardReserve(t *testing.T) {
	ctx := context.Background()
	g := newGuard(DefaultGuardSettings())
	var held []checkout.GuardInput
	for i := range 3 {
		in := guardIn("fp_a", "cs_"+string(rune('a'+i)), "203.0.113.5", gt0)
		in.Attempt = in.SessionID + ":1"
		if v, err := g.Reserve(ctx, in, gt0.Add(time.Minute)); err != nil || v.Rule != "" {
			t.Fatalf("reservation %d: %+v %v", i+1, v, err)
		}
		held = append(held, in)
	}
	in := guardIn("fp_a", "cs_z", "203.0.113.6", gt0)
	in.Attempt = "cs_z:1"
	if v, err := g.Reserve(ctx, in, gt0.Add(time.Minute)); err != nil || !v.Locked || v.Rule != checkout.RuleLockoutPending {
		t.Fatalf("fourth in flight: %+v %v; want refused by %s", v, err, checkout.RuleLockoutPending)
	}
	if err := g.Settle(ctx, held[0], false); err != nil {
		t.Fatal(err)
	}
	if v, err := g.Reserve(ctx, in, gt0.Add(time.Minute)); err != nil || v.Rule != "" {
		t.Fatalf("after a release: %+v %v; want a slot", v, err)
	}
	bad := map[string]func() error{
		"no attempt": func() error {
			_, err := g.Reserve(ctx, guardIn("fp_b", "cs", "203.0.113.5", gt0), gt0.Add(time.Minute))
			return err
		},
		"no end": func() error { _, err := g.Reserve(ctx, in, gt0); return err },
		"no budget": func() error {
			_, err := (&Guard{Counters: g.Counters, Locks: g.Locks}).Reserve(ctx, in, gt0.Add(time.Minute))
			return err
		},
		"settle without attempt": func() error { return g.Settle(ctx, guardIn("fp_b", "cs", "203.0.113.5", gt0), true) },
	}
	for name, f := range bad {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A submission completing a 3-D Secure challenge is neither counted nor
// refused by a rate limit, but a locked card is refused all the same.
func TestGuardCompletesIsNotCountedAgain(t *testing.T) {
	ctx := context.Background()
	s := DefaultGuardSettings()
	s.Card = Limit{Max: 1, Window: time.Hour}
	g := newGuard(s)
	in := guardIn("fp_a", "cs_1", "203.0.113.5", gt0)
	if v, err := g.Admit(ctx, in); err != nil || v.Rule != "" {
		t.Fatalf("the challenged attempt: %+v %v", v, err)
	}
	done := in
	done.Completes = true
	for range 3 {
		if v, err := g.Admit(ctx, done); err != nil || v.Rule != "" {
			t.Fatalf("its completion: %+v %v; want admitted", v, err)
		}
	}
	if v, _ := g.Admit(ctx, guardIn("fp_a", "cs_2", "203.0.113.6", gt0)); v.Rule != checkout.RuleRateLimitCard {
		t.Fatalf("the next attempt: %+v; want %s (completions not counted, the first was)", v, checkout.RuleRateLimitCard)
	}
	if err := g.Locks.LockCard(ctx, "fp_a", gt0, gt0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Admit(ctx, done); !v.Locked {
		t.Fatalf("completion on a locked card: %+v; want locked", v)
	}
}

// A limit that is off records and counts nothing: with every rate limit off
// Admit writes no event, and with one on, only that limit's.
func TestGuardLimitsOffRecordNothing(t *testing.T) {
	off := GuardSettings{LockoutFailures: 3, LockoutWindow: time.Hour, LockoutDuration: time.Hour}
	ipOnly := off
	ipOnly.IP = Limit{Max: 4, Window: 10 * time.Minute}
	for name, tc := range map[string]struct {
		s    GuardSettings
		want int
	}{"all off": {off, 0}, "ip on": {ipOnly, 1}} {
		t.Run(name, func(t *testing.T) {
			g := newGuard(tc.s)
			in := guardIn("fp_1", "cs_1", "10.0.0.1", gt0)
			in.Chunk = "chunk_1"
			if v, err := g.Admit(t.Context(), in); err != nil || v.Rule != "" {
				t.Fatalf("Admit: %+v %v; want admitted", v, err)
			}
			if n := g.Counters.(*MemoryCounters).Len(); n != tc.want {
				t.Errorf("%d events recorded; want %d", n, tc.want)
			}
		})
	}
}
