package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// slot is a lockout slot of card fp taken at at, counting failures within
// a day, for a budget of 3; a reservation counts for a minute.
func slot(fp string, at time.Time) risk.LockoutSlot {
	return risk.LockoutSlot{ID: checkout.NewID("cs") + ":1", Fingerprint: fp, At: at,
		Since: at.Add(-24 * time.Hour), Until: at.Add(time.Minute), Max: 3}
}

// mustReserve takes slots and fails unless each answers want.
func mustReserve(tb testing.TB, s risk.LockoutBudget, want string, slots ...risk.LockoutSlot) {
	tb.Helper()
	for i, sl := range slots {
		if got, err := s.ReserveSlot(tb.Context(), sl); err != nil || got != want {
			tb.Fatalf("ReserveSlot %d of %s at %v = %q, %v; want %q", i+1, sl.Fingerprint, sl.At, got, err, want)
		}
	}
}

// mustFailSlot settles a slot as a wrong code and fails unless the card's
// lock is as wantLocked says.
func mustFailSlot(tb testing.TB, s risk.LockoutBudget, sl risk.LockoutSlot, wantLocked bool) {
	tb.Helper()
	failure := sl
	failure.Until = sl.At.Add(risk.MaxWindow)
	if locked, err := s.FailSlot(tb.Context(), failure, sl.At.Add(24*time.Hour)); err != nil || locked != wantLocked {
		tb.Fatalf("FailSlot = %v, %v; want locked %v", locked, err, wantLocked)
	}
}

// testLockoutSlots: the security-code lockout's budget. Failures and
// reservations in flight together fill it; a release frees a slot, a
// reservation stops counting at its end, failures before the window or
// before a lock's end are forgotten, the failure at the threshold locks
// the card, and of many racing reservations exactly the budget's succeed.
func testLockoutSlots(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	at := base.Add(time.Hour)
	newCard := func() string { return "fp_" + checkout.NewID("x") }

	t.Run("reservations fill the budget; a release frees a slot", func(t *testing.T) {
		fp := newCard()
		a, b, c := slot(fp, at), slot(fp, at), slot(fp, at)
		mustReserve(t, s, risk.SlotGranted, a, b, c)
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(time.Second)))
		mustReserve(t, s, risk.SlotGranted, slot(newCard(), at)) // another card has its own
		if err := s.ReleaseSlot(ctx, b.ID); err != nil {
			t.Fatalf("ReleaseSlot: %v", err)
		}
		if err := s.ReleaseSlot(ctx, checkout.NewID("cs")+":9"); err != nil {
			t.Fatalf("ReleaseSlot of no slot: %v; want none", err)
		}
		mustReserve(t, s, risk.SlotGranted, slot(fp, at.Add(time.Second)))
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(time.Second)))
		// A reservation whose request died counts until its end, then not.
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(time.Minute-time.Microsecond)))
		mustReserve(t, s, risk.SlotGranted, slot(fp, at.Add(time.Minute+time.Second)))
	})

	t.Run("finishing the attempt ends its reservation, never a failure", func(t *testing.T) {
		now := base.Add(time.Minute) // while the sessions are open
		budget := func(fp string, id string, max int) risk.LockoutSlot {
			sl := slot(fp, now)
			sl.Max = max
			if id != "" {
				sl.ID = id
			}
			return sl
		}
		finish := func(a checkout.Attempt) {
			if err := s.FinishAttempt(ctx, a, nil); err != nil {
				t.Fatalf("FinishAttempt: %v", err)
			}
		}

		// A reservation: gone with the attempt's outcome.
		sess := mustSession(t, s, mustMerchant(t, s))
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptDeclined, now)
		fp := newCard()
		mustReserve(t, s, risk.SlotGranted, budget(fp, a.IdempotencyKey(), 1))
		mustReserve(t, s, risk.SlotFull, budget(fp, "", 1))
		finish(a)
		mustReserve(t, s, risk.SlotGranted, budget(fp, "", 1))

		// A wrong code: its failure outlives the attempt.
		sess = mustSession(t, s, mustMerchant(t, s))
		mustBegin(t, s, sess.ID, now)
		a = newAttempt(sess, 1, checkout.AttemptDeclined, now)
		fp = newCard()
		held := budget(fp, a.IdempotencyKey(), 2)
		mustReserve(t, s, risk.SlotGranted, held)
		mustFailSlot(t, s, held, false)
		finish(a)
		mustReserve(t, s, risk.SlotGranted, budget(fp, "", 2)) // the failure and this one fill it
		mustReserve(t, s, risk.SlotFull, budget(fp, "", 2))
	})

	t.Run("the failure at the threshold locks the card", func(t *testing.T) {
		fp := newCard()
		a, b, c := slot(fp, at), slot(fp, at), slot(fp, at)
		mustReserve(t, s, risk.SlotGranted, a, b, c)
		mustFailSlot(t, s, a, false)
		if err := s.ReleaseSlot(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		mustFailSlot(t, s, b, false)
		// A released slot makes room; a failure, released or not, does not.
		if err := s.ReleaseSlot(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		d := slot(fp, at.Add(time.Second))
		mustReserve(t, s, risk.SlotGranted, d)
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(time.Second)))
		mustFailSlot(t, s, d, true)
		l, found, err := s.CardLock(ctx, fp)
		if err != nil || !found || !l.LockedAt.Equal(d.At) || !l.LockedUntil.Equal(d.At.Add(24*time.Hour)) || l.LockedUntil.Location() != time.UTC {
			t.Fatalf("CardLock = %+v, %v, %v; want locked from %v for 24h", l, found, err, d.At)
		}
		mustReserve(t, s, risk.SlotLocked, slot(fp, at.Add(time.Hour)))
		// The lock ends (the operator unlocks it): earlier failures are
		// forgiven, a fresh budget.
		if ok, err := s.UnlockCard(ctx, fp, at.Add(2*time.Hour)); err != nil || !ok {
			t.Fatalf("UnlockCard = %v, %v", ok, err)
		}
		e := slot(fp, at.Add(3*time.Hour))
		mustReserve(t, s, risk.SlotGranted, e)
		mustFailSlot(t, s, e, false)
		mustReserve(t, s, risk.SlotGranted, slot(fp, at.Add(3*time.Hour)), slot(fp, at.Add(3*time.Hour)))
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(3*time.Hour)))
	})

	t.Run("failures before the window do not count", func(t *testing.T) {
		fp := newCard()
		for range 2 {
			mustFailSlot(t, s, slot(fp, at), false) // no reservation: the failure is recorded all the same
		}
		mustReserve(t, s, risk.SlotGranted, slot(fp, at.Add(time.Hour)))
		mustReserve(t, s, risk.SlotFull, slot(fp, at.Add(time.Hour)))
		later := at.Add(25 * time.Hour)
		mustReserve(t, s, risk.SlotGranted, slot(fp, later), slot(fp, later), slot(fp, later))
	})

	t.Run("racing reservations: exactly the budget succeeds", func(t *testing.T) {
		raceSlots(t, []risk.LockoutBudget{s}, at)
	})
}

// raceSlots takes 24 reservations of one card at once, spread over the
// stores (instances), and fails unless exactly the budget's 3 succeed; 8
// rounds, each on a new card, since a race may go right by chance.
func raceSlots(t *testing.T, stores []risk.LockoutBudget, at time.Time) {
	t.Helper()
	const n = 24
	for range 8 {
		fp := "fp_" + checkout.NewID("x")
		answers := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			s := stores[i%len(stores)]
			wg.Go(func() {
				<-start
				answers[i], errs[i] = s.ReserveSlot(t.Context(), slot(fp, at))
			})
		}
		close(start)
		wg.Wait()
		granted := 0
		for i, a := range answers {
			if errs[i] != nil {
				t.Fatalf("ReserveSlot: %v", errs[i])
			}
			switch a {
			case risk.SlotGranted:
				granted++
			case risk.SlotFull:
			default:
				t.Fatalf("ReserveSlot = %q; want granted or full", a)
			}
		}
		if granted != 3 {
			t.Fatalf("%d of %d racing reservations on %d instance(s) were granted; want exactly the budget, 3 (%v)", granted, n, len(stores), answers)
		}
	}
}
