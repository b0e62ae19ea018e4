package checkout_test

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// mustGuardedHarness is the harness with the card-testing defence on the
// store's counters and locks.
func mustGuardedHarness(tb testing.TB, s risk.GuardSettings) *harness {
	tb.Helper()
	h := mustHarness(tb)
	h.svc.Guard = &risk.Guard{Counters: h.db, Locks: h.db, Budget: h.db, Settings: s}
	h.svc.CardKeys = h.vault
	return h
}

func TestPayLockoutAfterWrongCodes(t *testing.T) {
	ctx := context.Background()
	h := mustGuardedHarness(t, risk.DefaultGuardSettings())
	// Three wrong codes, on three sessions: each reaches the issuer, which declines.
	for i := range 3 {
		s := h.mustSession(t)
		_, err := h.svc.Pay(ctx, payRequest(s.ID, "4242424242424242", "999"))
		if checkout.ErrorCode(err) != checkout.EDECLINED {
			t.Fatalf("wrong code %d: %v, want declined", i+1, err)
		}
	}
	calls := h.issuer.Stats().Calls
	// Now even the right code is declined, and the issuer never hears of
	// it. The answer is the decline a dead number gets, field for field: a
	// lock exists only for a number the issuer knows, so an answer of its
	// own would tell a card tester the number is live.
	s := h.mustSession(t)
	_, err := h.svc.Pay(ctx, payRequest(s.ID, "4242 4242 4242 4242", "123"))
	if checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("locked card: %v, want declined", err)
	}
	_, dead := h.svc.Pay(ctx, payRequest(h.mustSession(t).ID, "4000000000000002", "999"))
	var e, d *checkout.Error
	asErr(err, &e)
	asErr(dead, &d)
	if !reflect.DeepEqual(e, d) || e.MsgID != "pay.declined" {
		t.Fatalf("locked card answers %#v; a dead number %#v: want the same decline", e, d)
	}
	calls++ // the dead number's
	if got := h.issuer.Stats().Calls; got != calls {
		t.Fatalf("a locked card reached the issuer (%d calls, was %d)", got, calls)
	}
	attempts, err := h.db.Attempts(ctx, s.ID)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("attempts %v %v", attempts, err)
	}
	a := attempts[0]
	if a.Outcome != checkout.AttemptBlocked || a.Risk == nil || !a.Risk.Has(checkout.RuleLockoutCVC) || a.Fingerprint == "" {
		t.Fatalf("attempt = %+v, want blocked with %s", a, checkout.RuleLockoutCVC)
	}
	// Another card still pays.
	if _, err := h.svc.Pay(ctx, payRequest(h.mustSession(t).ID, "5555555555554444", "123")); err != nil {
		t.Fatal(err)
	}
	// The operator unlocks it: it pays again.
	if ok, err := h.db.UnlockCard(ctx, a.Fingerprint, time.Now()); err != nil || !ok {
		t.Fatalf("unlock: %v %v", ok, err)
	}
	if _, err := h.svc.Pay(ctx, payRequest(h.mustSession(t).ID, "4242424242424242", "123")); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestPayRateLimited(t *testing.T) {
	ctx := context.Background()
	s := risk.DefaultGuardSettings()
	s.IP = risk.Limit{Max: 3, Window: time.Minute}
	h := mustGuardedHarness(t, s)
	ip := netip.MustParseAddr("203.0.113.9")
	for i := range 3 {
		req := payRequest(h.mustSession(t).ID, "4000000000000002", "123")
		req.ClientIP = ip
		if _, err := h.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.EDECLINED {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	calls := h.issuer.Stats().Calls
	sess := h.mustSession(t)
	req := payRequest(sess.ID, "4242424242424242", "123")
	req.ClientIP = ip
	_, err := h.svc.Pay(ctx, req)
	var e *checkout.Error
	if checkout.ErrorCode(err) != checkout.ERATELIMITED {
		t.Fatalf("over the IP limit: %v, want rate_limited", err)
	}
	if asErr(err, &e); e.Message != "Too many attempts. Please wait and try again." || e.MsgID != "pay.rate_limited" {
		t.Fatalf("message %q (%s)", e.Message, e.MsgID)
	}
	if got := h.issuer.Stats().Calls; got != calls {
		t.Fatal("a rate-limited attempt reached the issuer")
	}
	attempts, _ := h.db.Attempts(ctx, sess.ID)
	if len(attempts) != 1 || attempts[0].Outcome != checkout.AttemptRateLimited || !attempts[0].Risk.Has(checkout.RuleRateLimitIP) {
		t.Fatalf("attempts = %+v", attempts)
	}
	// Another IP is not limited.
	req = payRequest(sess.ID, "4242424242424242", "123")
	req.ClientIP = netip.MustParseAddr("198.51.100.1")
	if _, err := h.svc.Pay(ctx, req); err != nil {
		t.Fatalf("another IP: %v", err)
	}
}

func asErr(err error, e **checkout.Error) {
	if ce, ok := err.(*checkout.Error); ok {
		*e = ce
	} else {
		*e = &checkout.Error{}
	}
}

// beginCounter is the harness's store, counting its BeginAttempt calls.
type beginCounter struct {
	checkout.Store
	begins int
}

func (b *beginCounter) BeginAttempt(ctx context.Context, id string, now, staleBefore time.Time) (checkout.Session, error) {
	b.begins++
	return b.Store.BeginAttempt(ctx, id, now, staleBefore)
}

// With a Screener and a Guard over one store that keeps the counters, the
// locks, the lists and the sessions, a payment's attempt begins in the
// round that admits and screens it (no BeginAttempt of its own); with the
// lists elsewhere, it begins on its own first. Both pay.
func TestAttemptBeginsInTheScreeningRound(t *testing.T) {
	for name, tc := range map[string]struct {
		lists      func(h *harness) risk.Lists
		wantBegins int
	}{
		"one store":          {func(h *harness) risk.Lists { return h.db }, 0},
		"lists of their own": {func(*harness) risk.Lists { return risk.NewMemoryLists() }, 1},
	} {
		t.Run(name, func(t *testing.T) {
			h := mustGuardedHarness(t, risk.DefaultGuardSettings())
			h.svc.Screener = &risk.Screener{Settings: h.db, Counters: h.db, Lists: tc.lists(h)}
			counted := &beginCounter{Store: h.db}
			h.svc.Store = counted
			s := h.mustSession(t)
			res, err := h.svc.Pay(t.Context(), shopper(s.ID, "4242424242424242"))
			if err != nil || res.Payment.Status != checkout.PaymentSucceeded {
				t.Fatalf("Pay: %+v, %v; want paid", res.Payment, err)
			}
			if counted.begins != tc.wantBegins {
				t.Errorf("%d BeginAttempt calls; want %d", counted.begins, tc.wantBegins)
			}
			if got, err := h.db.Session(t.Context(), s.ID); err != nil || got.Status != checkout.SessionPaid || got.Attempts != 1 {
				t.Errorf("session after paying: %+v, %v; want paid after 1 attempt", got, err)
			}
		})
	}
}
