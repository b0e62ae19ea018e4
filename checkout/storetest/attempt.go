package storetest

import (
	"cmp"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

func testBeginAttempt(t *testing.T, open func(t *testing.T) Store) {
	t.Run("OpenToProcessing", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		before, err := s.BeginAttempt(t.Context(), sess.ID, now, now.Add(-time.Minute))
		if err != nil {
			t.Fatalf("BeginAttempt: %v", err)
		}
		// It answers the session as it was before the change.
		wantSession(t, before, sess)

		want := sess
		want.Status, want.Attempts, want.ProcessingSince = checkout.SessionProcessing, 1, now
		wantSession(t, mustGet(t, s, sess.ID), want)
	})

	t.Run("InProgress", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		// Not stale: began after staleBefore.
		_, err := s.BeginAttempt(t.Context(), sess.ID, now.Add(time.Second), now.Add(-time.Second))
		wantCode(t, err, checkout.ECONFLICT, "")
		if got := mustGet(t, s, sess.ID); got.Attempts != 1 {
			t.Fatalf("Attempts = %d after a refused attempt; want 1", got.Attempts)
		}
	})

	t.Run("OneOfManyWins", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		const n = 20
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = s.BeginAttempt(t.Context(), sess.ID, now, now.Add(-time.Minute))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch checkout.ErrorCode(err) {
			case "":
				won++
			case checkout.ECONFLICT:
			default:
				t.Fatalf("BeginAttempt: %v; want success or ECONFLICT", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent BeginAttempt calls won; want exactly 1", won, n)
		}
		got := mustGet(t, s, sess.ID)
		if got.Status != checkout.SessionProcessing || got.Attempts != 1 {
			t.Fatalf("session is %s with %d attempts; want processing with 1", got.Status, got.Attempts)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		// At ExpiresAt the session is expired already (Session.StatusAt).
		for _, now := range []time.Time{sess.ExpiresAt, sess.ExpiresAt.Add(time.Hour)} {
			_, err := s.BeginAttempt(t.Context(), sess.ID, now, now.Add(-time.Minute))
			wantCode(t, err, checkout.EEXPIRED, "")
		}
		wantSession(t, mustGet(t, s, sess.ID), sess)
	})

	t.Run("JustBeforeExpiry", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		mustBegin(t, s, sess.ID, sess.ExpiresAt.Add(-time.Microsecond))
	})

	t.Run("Paid", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		// Paid is final, stale or not.
		later := now.Add(time.Hour)
		_, err := s.BeginAttempt(t.Context(), sess.ID, now.Add(time.Second), now.Add(-time.Minute))
		wantCode(t, err, checkout.ECONFLICT, "")
		_, err = s.BeginAttempt(t.Context(), sess.ID, later, later)
		wantCode(t, err, checkout.ECONFLICT, "")
	})

	t.Run("StaleTakeover", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		first := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, first)
		// The first attempt died; a minute later its processing is stale.
		now := first.Add(time.Minute)
		before, err := s.BeginAttempt(t.Context(), sess.ID, now, first.Add(time.Second))
		if err != nil {
			t.Fatalf("BeginAttempt on a stale session: %v", err)
		}
		want := sess
		want.Status, want.Attempts, want.ProcessingSince = checkout.SessionProcessing, 1, first
		wantSession(t, before, want)

		want.Attempts, want.ProcessingSince = 2, now
		wantSession(t, mustGet(t, s, sess.ID), want)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.BeginAttempt(t.Context(), checkout.NewID("cs"), base, base.Add(-time.Minute))
		wantCode(t, err, checkout.ENOTFOUND, "no such session")
	})
}

func testFinishAttempt(t *testing.T, open func(t *testing.T) Store) {
	t.Run("WithPayment", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		a.ThreeDS = threeDS(checkout.ThreeDSAuthenticated, "05")
		p := newPayment(sess, a, now.Add(2*time.Second))
		p.ThreeDS = a.ThreeDS
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		want := sess
		want.Status, want.Attempts, want.PaymentID = checkout.SessionPaid, 1, p.ID
		wantSession(t, mustGet(t, s, sess.ID), want)

		got, err := s.Payment(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("Payment: %v", err)
		}
		wantUTC(t, got.CreatedAt)
		wantEqual(t, "payment", got, p, normPayment)

		attempts, err := s.Attempts(t.Context(), sess.ID)
		if err != nil {
			t.Fatalf("Attempts: %v", err)
		}
		wantEqual(t, "attempts", attempts, []checkout.Attempt{a}, normAttempts)
	})

	t.Run("WithoutPayment", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptDeclined, now)
		a.DeclineReason = checkout.DeclineInsufficientFunds
		if err := s.FinishAttempt(t.Context(), a, nil); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		want := sess
		want.Attempts = 1
		wantSession(t, mustGet(t, s, sess.ID), want)

		// The next attempt is counted after the first.
		next := now.Add(time.Minute)
		before := mustBegin(t, s, sess.ID, next)
		if before.Status != checkout.SessionOpen || before.Attempts != 1 {
			t.Fatalf("before the second attempt: %s with %d attempts; want open with 1", before.Status, before.Attempts)
		}
		if got := mustGet(t, s, sess.ID); got.Attempts != 2 {
			t.Fatalf("Attempts = %d; want 2", got.Attempts)
		}
	})

	// Recording the same attempt again keeps one row with the last outcome
	// (a decline later reversed, say), and keeps what it does not replace.
	t.Run("RecordedOnceWithLastOutcome", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptDeclined, now)
		a.DeclineReason = checkout.DeclineInsufficientFunds
		if err := s.FinishAttempt(t.Context(), a, nil); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		a.Outcome = checkout.AttemptReversed
		a.ThreeDS = threeDS(checkout.ThreeDSAttempted, "06")
		if err := s.FinishAttempt(t.Context(), a, nil); err != nil {
			t.Fatalf("FinishAttempt again: %v", err)
		}
		attempts, err := s.Attempts(t.Context(), sess.ID)
		if err != nil {
			t.Fatalf("Attempts: %v", err)
		}
		if len(attempts) != 1 || attempts[0].Outcome != checkout.AttemptReversed || attempts[0].DeclineReason != checkout.DeclineInsufficientFunds {
			t.Fatalf("attempts = %+v; want one, reversed, insufficient_funds", attempts)
		}
		wantEqual(t, "attempts", attempts, []checkout.Attempt{a}, normAttempts)
	})

	t.Run("DeclinedThenPaid", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		if err := s.FinishAttempt(t.Context(), newAttempt(sess, 1, checkout.AttemptDeclined, now), nil); err != nil {
			t.Fatalf("FinishAttempt(declined): %v", err)
		}
		mustBegin(t, s, sess.ID, now.Add(time.Minute))
		a := newAttempt(sess, 2, checkout.AttemptApproved, now.Add(time.Minute))
		p := newPayment(sess, a, now.Add(time.Minute))
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt(approved): %v", err)
		}
		got := mustGet(t, s, sess.ID)
		if got.Status != checkout.SessionPaid || got.Attempts != 2 || got.PaymentID != p.ID {
			t.Fatalf("session is %s with %d attempts and payment %q; want paid with 2 and %q", got.Status, got.Attempts, got.PaymentID, p.ID)
		}
	})

	t.Run("PaymentNeedsProcessing", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		a := newAttempt(sess, 1, checkout.AttemptApproved, base)
		p := newPayment(sess, a, base)
		wantCode(t, s.FinishAttempt(t.Context(), a, &p), checkout.ECONFLICT, "")
		_, err := s.Payment(t.Context(), p.ID)
		wantCode(t, err, checkout.ENOTFOUND, "")
		wantSession(t, mustGet(t, s, sess.ID), sess)
	})

	t.Run("PaidOnce", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		second := newPayment(sess, a, now)
		wantCode(t, s.FinishAttempt(t.Context(), a, &second), checkout.ECONFLICT, "")
		if _, err := s.Payment(t.Context(), second.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
			t.Fatalf("second payment stored (err %v)", err)
		}
		// An attempt finished without payment does not reopen a paid session.
		if err := s.FinishAttempt(t.Context(), newAttempt(sess, 1, checkout.AttemptReversed, now), nil); err != nil {
			t.Fatalf("FinishAttempt(reversed): %v", err)
		}
		if got := mustGet(t, s, sess.ID); got.Status != checkout.SessionPaid || got.PaymentID != p.ID {
			t.Fatalf("session is %s with payment %q; want paid with %q", got.Status, got.PaymentID, p.ID)
		}
	})

	// After a stale takeover, the old attempt was reversed by the new one:
	// it may neither pay the session nor reopen it under the new attempt.
	t.Run("SupersededAttempt", func(t *testing.T) {
		s := open(t)
		sess := mustSession(t, s, mustMerchant(t, s))
		first := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, first)
		now := first.Add(time.Minute)
		if _, err := s.BeginAttempt(t.Context(), sess.ID, now, first.Add(time.Second)); err != nil {
			t.Fatalf("BeginAttempt (takeover): %v", err)
		}
		old := newAttempt(sess, 1, checkout.AttemptApproved, first)
		oldPayment := newPayment(sess, old, now)
		wantCode(t, s.FinishAttempt(t.Context(), old, &oldPayment), checkout.ECONFLICT, "")
		if err := s.FinishAttempt(t.Context(), newAttempt(sess, 1, checkout.AttemptReversed, first), nil); err != nil {
			t.Fatalf("FinishAttempt(old, reversed): %v", err)
		}
		want := sess
		want.Status, want.Attempts, want.ProcessingSince = checkout.SessionProcessing, 2, now
		wantSession(t, mustGet(t, s, sess.ID), want)

		// The attempt that holds the session pays it.
		a := newAttempt(sess, 2, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt(current): %v", err)
		}
		if got := mustGet(t, s, sess.ID); got.Status != checkout.SessionPaid || got.PaymentID != p.ID {
			t.Fatalf("session is %s with payment %q; want paid with %q", got.Status, got.PaymentID, p.ID)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		sess := newSession(checkout.Merchant{ID: checkout.NewID("mer")}, base)
		a := newAttempt(sess, 1, checkout.AttemptDeclined, base)
		wantCode(t, s.FinishAttempt(t.Context(), a, nil), checkout.ENOTFOUND, "no such session")
		p := newPayment(sess, a, base)
		wantCode(t, s.FinishAttempt(t.Context(), a, &p), checkout.ENOTFOUND, "no such session")
	})
}

func normAttempts(as []checkout.Attempt) []checkout.Attempt {
	out := make([]checkout.Attempt, len(as))
	for i, a := range as {
		a.CreatedAt = utc(a.CreatedAt)
		out[i] = a
	}
	return out
}

func normPayment(p checkout.Payment) checkout.Payment {
	p.CreatedAt = utc(p.CreatedAt)
	p.AuthorizedUntil = utc(p.AuthorizedUntil)
	p.Method = p.Method.Effective()
	p.Initiator = cmp.Or(p.Initiator, checkout.InitiatorCustomer)
	return p
}

func testPayment(t *testing.T, open func(t *testing.T) Store) {
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Payment(t.Context(), checkout.NewID("pay"))
		wantCode(t, err, checkout.ENOTFOUND, "no such payment")
	})
}

// testRoundBegins checks a RoundTripper's Round with a Begin: the attempt
// begins with the round, and a session that cannot begin keeps the round
// from doing anything else.
func testRoundBegins(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	rt, ok := s.(risk.RoundTripper)
	if !ok {
		return
	}
	m := mustMerchant(t, s)
	now := base.Add(time.Minute)
	round := func(sessionID string, card string) (risk.Round, string) {
		key := checkout.NewID("ip")
		return risk.Round{Begin: &checkout.AttemptBegin{SessionID: sessionID, Now: now, StaleBefore: now.Add(-time.Minute)},
			Card: card, At: now, Events: []risk.Event{{Key: key, At: now}},
			Queries: []risk.Query{{Key: key, Since: now.Add(-time.Minute)}}, MerchantID: m.ID}, key
	}
	recorded := func(key string) int {
		t.Helper()
		got, err := s.Count(t.Context(), []risk.Query{{Key: key, Since: now.Add(-time.Minute)}})
		if err != nil {
			t.Fatalf("Count: %v", err)
		}
		return got[0]
	}

	sess := mustSession(t, s, m)
	r, key := round(sess.ID, checkout.NewID("fp"))
	ans, err := rt.RoundTrip(t.Context(), r)
	if err != nil || ans.Locked || len(ans.Counts) != 1 || ans.Counts[0] != 1 {
		t.Fatalf("RoundTrip with a begin: %+v, %v; want unlocked and [1]", ans, err)
	}
	wantSession(t, ans.Before, sess)
	want := sess
	want.Status, want.Attempts, want.ProcessingSince = checkout.SessionProcessing, 1, now
	wantSession(t, mustGet(t, s, sess.ID), want)

	// The session is now another attempt's: the round is refused whole.
	again, key := round(sess.ID, checkout.NewID("fp"))
	_, err = rt.RoundTrip(t.Context(), again)
	wantCode(t, err, checkout.ECONFLICT, "")
	if n := recorded(key); n != 0 {
		t.Fatalf("a refused begin recorded %d events; want none", n)
	}
	wantSession(t, mustGet(t, s, sess.ID), want)

	missing, key := round(checkout.NewID("cs"), checkout.NewID("fp"))
	_, err = rt.RoundTrip(t.Context(), missing)
	wantCode(t, err, checkout.ENOTFOUND, "")
	if n := recorded(key); n != 0 {
		t.Fatalf("a begin of no session recorded %d events; want none", n)
	}

	// A tripwire reached refuses the round whole: nothing begins or is
	// recorded. One short of it lets the round go on.
	wire := checkout.NewID("ip")
	if err := s.Record(t.Context(), []risk.Event{{Key: wire, At: now}}); err != nil {
		t.Fatalf("Record: %v", err)
	}
	tripping := mustSession(t, s, m)
	r, key = round(tripping.ID, checkout.NewID("fp"))
	r.Tripwires = []risk.Tripwire{{Query: risk.Query{Key: wire, Since: now.Add(-time.Minute), Cap: 2}, At: 1}}
	if _, err := rt.RoundTrip(t.Context(), r); !errors.Is(err, checkout.ErrNearLimit) {
		t.Fatalf("RoundTrip with a tripwire reached: %v; want ErrNearLimit", err)
	}
	if n := recorded(key); n != 0 {
		t.Fatalf("a tripped round recorded %d events; want none", n)
	}
	wantSession(t, mustGet(t, s, tripping.ID), tripping)
	r.Tripwires[0].At = 2
	if ans, err := rt.RoundTrip(t.Context(), r); err != nil || len(ans.Counts) != 1 || ans.Counts[0] != 1 {
		t.Fatalf("RoundTrip with a tripwire not reached: %+v, %v; want begun and [1]", ans, err)
	}
	if got := mustGet(t, s, tripping.ID); got.Status != checkout.SessionProcessing {
		t.Fatalf("session after a round under its tripwire: %s; want processing", got.Status)
	}

	// A locked card: the attempt begins, nothing is recorded.
	locked := mustSession(t, s, m)
	r, key = round(locked.ID, checkout.NewID("fp"))
	if err := s.LockCard(t.Context(), r.Card, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatalf("LockCard: %v", err)
	}
	if ans, err := rt.RoundTrip(t.Context(), r); err != nil || !ans.Locked {
		t.Fatalf("RoundTrip of a locked card with a begin: %+v, %v; want locked", ans, err)
	}
	if n := recorded(key); n != 0 {
		t.Fatalf("a locked card's round recorded %d events; want none", n)
	}
	if got := mustGet(t, s, locked.ID); got.Status != checkout.SessionProcessing || got.Attempts != 1 {
		t.Fatalf("session after a locked card's round: %s with %d attempts; want processing with 1", got.Status, got.Attempts)
	}
}
