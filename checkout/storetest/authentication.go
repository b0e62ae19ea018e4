package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// newAuthentication is a pending challenge on sess, created at now, not yet
// stored. Every field is set, so that a round trip checks them all.
func newAuthentication(sess checkout.Session, now time.Time) checkout.Authentication {
	return checkout.Authentication{
		ID:                 checkout.NewID("3ds"),
		SessionID:          sess.ID,
		MerchantID:         sess.MerchantID,
		Fingerprint:        checkout.NewID("fp"),
		Brand:              checkout.BrandMastercard,
		ACSTransID:         checkout.NewID("acs"),
		ChallengeRequested: true,
		Status:             checkout.ThreeDSChallenge,
		ECI:                "00",
		Value:              "AAABBBCCCDDDEEEFFF000111222=",
		Failures:           1,
		CreatedAt:          now,
		ExpiresAt:          now.Add(checkout.ThreeDSChallengeTTL),
	}
}

// mustAuthentication stores a new authentication on a new session.
func mustAuthentication(tb testing.TB, s Store) checkout.Authentication {
	tb.Helper()
	a := newAuthentication(mustSession(tb, s, mustMerchant(tb, s)), base.Add(time.Minute))
	if err := s.CreateAuthentication(tb.Context(), a); err != nil {
		tb.Fatalf("CreateAuthentication: %v", err)
	}
	return a
}

func normAuthentication(a checkout.Authentication) checkout.Authentication {
	a.CreatedAt, a.ExpiresAt = utc(a.CreatedAt), utc(a.ExpiresAt)
	return a
}

// wantAuthentication reads the authentication with want's id and compares.
func wantAuthentication(tb testing.TB, s Store, what string, want checkout.Authentication) {
	tb.Helper()
	got, err := s.Authentication(tb.Context(), want.ID)
	if err != nil {
		tb.Fatalf("Authentication (%s): %v", what, err)
	}
	wantUTC(tb, got.CreatedAt, got.ExpiresAt)
	wantEqual(tb, what, got, want, normAuthentication)
}

func testAuthentication(t *testing.T, open func(t *testing.T) Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		a := mustAuthentication(t, s)
		wantAuthentication(t, s, "authentication", a)

		// An unrequested, used one, with nothing optional: false, 0 and ""
		// read back as such.
		b := newAuthentication(mustSession(t, s, mustMerchant(t, s)), base)
		b.Brand, b.ChallengeRequested, b.Status, b.ECI, b.Value, b.Failures, b.UsedBy =
			checkout.BrandVisa, false, checkout.ThreeDSAuthenticated, "05", "", 0, 3
		if err := s.CreateAuthentication(t.Context(), b); err != nil {
			t.Fatalf("CreateAuthentication: %v", err)
		}
		wantAuthentication(t, s, "used authentication", b)
	})

	t.Run("Duplicate", func(t *testing.T) {
		s := open(t)
		a := mustAuthentication(t, s)
		again := a
		again.Status, again.Fingerprint = checkout.ThreeDSAuthenticated, checkout.NewID("fp")
		wantCode(t, s.CreateAuthentication(t.Context(), again), checkout.ECONFLICT, "")
		wantAuthentication(t, s, "authentication after a refused duplicate", a)
	})

	t.Run("MissingSession", func(t *testing.T) {
		s := open(t)
		a := newAuthentication(newSession(mustMerchant(t, s), base), base)
		wantCode(t, s.CreateAuthentication(t.Context(), a), checkout.ENOTFOUND, "no such session")
		_, err := s.Authentication(t.Context(), a.ID)
		wantCode(t, err, checkout.ENOTFOUND, "")
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Authentication(t.Context(), checkout.NewID("3ds"))
		wantCode(t, err, checkout.ENOTFOUND, "no such authentication")
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		a := mustAuthentication(t, s)

		// A wrong code: still C, one more failure.
		next := a
		next.Failures, next.ECI, next.Value = 2, "", ""
		if err := s.UpdateAuthentication(t.Context(), next, checkout.ThreeDSChallenge); err != nil {
			t.Fatalf("UpdateAuthentication(C to C): %v", err)
		}
		wantAuthentication(t, s, "after a wrong code", next)

		// The right code. Only status, ECI, value, failures and used_by
		// are written: the rest of a is ignored.
		answered := next
		answered.Status, answered.ECI, answered.Value = checkout.ThreeDSAuthenticated, "02", "kAABBCCDDEEFF0011223344556677="
		written := answered
		written.Fingerprint, written.ACSTransID, written.Brand = checkout.NewID("fp"), checkout.NewID("acs"), checkout.BrandVisa
		written.ChallengeRequested, written.ExpiresAt = false, base.Add(time.Hour)
		if err := s.UpdateAuthentication(t.Context(), written, checkout.ThreeDSChallenge); err != nil {
			t.Fatalf("UpdateAuthentication(C to Y): %v", err)
		}
		wantAuthentication(t, s, "after the right code", answered)

		// From a status it is no longer in.
		stale := answered
		stale.Status, stale.Failures = checkout.ThreeDSFailed, 3
		wantCode(t, s.UpdateAuthentication(t.Context(), stale, checkout.ThreeDSChallenge), checkout.ECONFLICT, "")
		wantAuthentication(t, s, "after a stale update", answered)

		// Used by attempt 2, its value cleared.
		used := answered
		used.UsedBy, used.Value = 2, ""
		if err := s.UpdateAuthentication(t.Context(), used, checkout.ThreeDSAuthenticated); err != nil {
			t.Fatalf("UpdateAuthentication(use): %v", err)
		}
		wantAuthentication(t, s, "after use", used)

		// Used: no more writes, even from the status it is in.
		again := used
		again.UsedBy, again.Value = 3, "x"
		wantCode(t, s.UpdateAuthentication(t.Context(), again, checkout.ThreeDSAuthenticated), checkout.ECONFLICT, "")
		again.UsedBy = 0
		wantCode(t, s.UpdateAuthentication(t.Context(), again, checkout.ThreeDSAuthenticated), checkout.ECONFLICT, "")
		wantAuthentication(t, s, "after updates of a used one", used)
	})

	t.Run("UpdateNotFound", func(t *testing.T) {
		s := open(t)
		a := newAuthentication(mustSession(t, s, mustMerchant(t, s)), base)
		wantCode(t, s.UpdateAuthentication(t.Context(), a, checkout.ThreeDSChallenge), checkout.ENOTFOUND, "no such authentication")
	})

	// Of several submissions racing to use one authentication, from any
	// instances, exactly one may: its value is good for one authorization.
	t.Run("OneUseOfMany", func(t *testing.T) {
		s := open(t)
		a := newAuthentication(mustSession(t, s, mustMerchant(t, s)), base)
		a.Status, a.ECI = checkout.ThreeDSAuthenticated, "02"
		if err := s.CreateAuthentication(t.Context(), a); err != nil {
			t.Fatalf("CreateAuthentication: %v", err)
		}
		const n = 10
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				used := a
				used.UsedBy, used.Value = i+1, ""
				<-start
				errs[i] = s.UpdateAuthentication(t.Context(), used, checkout.ThreeDSAuthenticated)
			})
		}
		close(start)
		wg.Wait()
		winner := 0
		for i, err := range errs {
			switch checkout.ErrorCode(err) {
			case "":
				if winner != 0 {
					t.Fatalf("attempts %d and %d both used the authentication", winner, i+1)
				}
				winner = i + 1
			case checkout.ECONFLICT:
			default:
				t.Fatalf("UpdateAuthentication: %v; want success or ECONFLICT", err)
			}
		}
		if winner == 0 {
			t.Fatalf("none of %d racing UpdateAuthentication calls won; want exactly 1", n)
		}
		want := a
		want.UsedBy, want.Value = winner, ""
		wantAuthentication(t, s, "after the race", want)
	})
}

// threeDS is an authentication's view with every field set.
func threeDS(status checkout.ThreeDSStatus, eci string) *checkout.ThreeDS {
	return &checkout.ThreeDS{
		AuthenticationID:   checkout.NewID("3ds"),
		Version:            checkout.ThreeDSVersion,
		Status:             status,
		ECI:                eci,
		ChallengeRequested: true,
		Challenged:         true,
		LiabilityShift:     checkout.LiabilityShift(status),
	}
}
