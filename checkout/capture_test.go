package checkout_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// nextShopper numbers the shoppers of newShopper.
var nextShopper atomic.Int64

// newShopper is a submission on sessionID by a shopper of its own: card,
// address and browser. One shopper paying again and again would meet the
// velocity rules.
func newShopper(sessionID string) checkout.PayRequest {
	n := int(nextShopper.Add(1))
	req := payRequest(sessionID, luhnCard(n), "123")
	req.ClientIP = netip.AddrFrom4([4]byte{198, 51, byte(n >> 8), byte(n)})
	req.DeviceID = fmt.Sprintf("dev_shopper_%d", n)
	return req
}

// manualPayment pays a session of the capture method and authorization
// days given, screened OK, and returns its payment and its key at the
// issuer.
func (s *screened) manualPayment(tb testing.TB, days int) (checkout.Payment, string) {
	tb.Helper()
	sess, _, err := s.svc.CreateSession(context.Background(), s.merchant, "", checkout.SessionRequest{
		Amount: 1500, Currency: "JPY", OrderID: "order-manual", SuccessURL: "https://shop.example/done",
		CaptureMethod: checkout.CaptureManual, AuthorizationTTL: days,
	})
	if err != nil {
		tb.Fatal(err)
	}
	res, err := s.svc.Pay(context.Background(), newShopper(sess.ID))
	if err != nil {
		tb.Fatalf("Pay: %v", err)
	}
	return res.Payment, sess.ID + ":1"
}

// A manual payment is authorized, not captured, until the merchant
// captures part of it: the issuer takes that part, the payment says so,
// and the capture's event carries it.
func TestManualPaymentIsCapturedInPart(t *testing.T) {
	s := mustScreened(t, nil)
	ctx := context.Background()
	now := time.Now()
	p, key := s.manualPayment(t, 0)
	if p.Status != checkout.PaymentAuthorized || p.CaptureMethod != checkout.CaptureManual || p.AmountCaptured != 0 {
		t.Fatalf("manual payment: %s, %s, captured %d; want authorized, manual, 0", p.Status, p.CaptureMethod, p.AmountCaptured)
	}
	if want := now.AddDate(0, 0, checkout.DefaultAuthorizationDays); p.AuthorizedUntil.Before(want.Add(-time.Minute)) || p.AuthorizedUntil.After(want.Add(time.Minute)) {
		t.Fatalf("authorized until %s; want the default 7 days, about %s", p.AuthorizedUntil, want)
	}
	if _, captured := s.issuer.Captured(key); captured {
		t.Fatal("the issuer captured a manual payment at authorization")
	}

	for _, bad := range []int64{-1, 1501} {
		if _, err := s.svc.CapturePayment(ctx, s.merchant, p.ID, bad); checkout.ErrorCode(err) != checkout.EINVALID {
			t.Fatalf("capture of %d: %v; want EINVALID", bad, err)
		}
	}
	got, err := s.svc.CapturePayment(ctx, s.merchant, p.ID, 1200)
	if err != nil || got.Status != checkout.PaymentCaptured || got.AmountCaptured != 1200 || !got.AuthorizedUntil.IsZero() {
		t.Fatalf("capture of 1200: %+v, %v", got, err)
	}
	if amount, ok := s.issuer.Captured(key); !ok || amount != 1200 {
		t.Fatalf("the issuer captured %d (%v); want 1200", amount, ok)
	}
	if stored, err := s.svc.Payment(ctx, s.merchant, p.ID); err != nil || stored.AmountCaptured != 1200 || stored.Status != checkout.PaymentCaptured {
		t.Fatalf("stored: %+v, %v", stored, err)
	}
	if v := s.events.payment(t, len(s.events.types())-1); s.events.types()[len(s.events.types())-1] != checkout.EventPaymentCaptured || v.AmountCaptured != 1200 {
		t.Fatalf("last event %v carries amount_captured %d; want payment.captured with 1200", s.events.types(), v.AmountCaptured)
	}

	// Retries: the same capture answers again; another amount, or a void,
	// is a conflict.
	for _, amount := range []int64{0, 1200} {
		if again, err := s.svc.CapturePayment(ctx, s.merchant, p.ID, amount); err != nil || again.AmountCaptured != 1200 {
			t.Fatalf("capture again with %d: %+v, %v", amount, again, err)
		}
	}
	if _, err := s.svc.CapturePayment(ctx, s.merchant, p.ID, 1000); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("capture of another amount: %v; want ECONFLICT", err)
	}
	if _, err := s.svc.VoidPayment(ctx, s.merchant, p.ID); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("void of a captured payment: %v; want ECONFLICT", err)
	}
}

// An automatic payment is a sale: the issuer captures it with the approval.
func TestAutomaticPaymentIsCapturedWithTheApproval(t *testing.T) {
	s := mustScreened(t, nil)
	res, err := s.pay(t, sandbox.CardVisa, "123")
	if err != nil {
		t.Fatal(err)
	}
	p := res.Payment
	if p.Status != checkout.PaymentSucceeded || p.CaptureMethod != checkout.CaptureAutomatic || p.AmountCaptured != p.Amount || !p.AuthorizedUntil.IsZero() {
		t.Fatalf("automatic payment: %+v", p)
	}
	if amount, ok := s.issuer.Captured(p.SessionID + ":1"); !ok || amount != p.Amount {
		t.Fatalf("the issuer captured %d (%v); want %d at authorization", amount, ok, p.Amount)
	}
}

// Past authorized_until a payment cannot be captured; it can still be
// voided.
func TestCaptureAfterTheAuthorizationExpired(t *testing.T) {
	s := mustScreened(t, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.svc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	p, key := s.manualPayment(t, 2)
	if want := time.Unix(0, clock.Load()).AddDate(0, 0, 2); !p.AuthorizedUntil.Equal(want) {
		t.Fatalf("authorized until %s; want 2 days on, %s", p.AuthorizedUntil, want)
	}
	clock.Add(int64(2 * 24 * time.Hour))
	_, err := s.svc.CapturePayment(context.Background(), s.merchant, p.ID, 0)
	if checkout.ErrorCode(err) != checkout.EAUTHEXPIRED {
		t.Fatalf("capture past authorized_until: %v; want EAUTHEXPIRED", err)
	}
	if _, captured := s.issuer.Captured(key); captured {
		t.Fatal("the issuer was asked to capture an expired authorization")
	}
	voided, err := s.svc.VoidPayment(context.Background(), s.merchant, p.ID)
	if err != nil || voided.Status != checkout.PaymentVoided || s.issuer.Stats().Reversed != 1 {
		t.Fatalf("void: %+v, %v, %d reversals", voided, err, s.issuer.Stats().Reversed)
	}
}

// Captures of different amounts racing: exactly one wins, and the store
// says what the issuer took.
func TestRacingCapturesAgreeWithTheIssuer(t *testing.T) {
	s := mustScreened(t, nil)
	p, key := s.manualPayment(t, 0)
	const n = 8
	errs := atOnce(n, func(i int) error {
		_, err := s.svc.CapturePayment(context.Background(), s.merchant, p.ID, int64(1000+i))
		return err
	})
	won := 0
	for i, err := range errs {
		switch checkout.ErrorCode(err) {
		case "":
			won++
		case checkout.ECONFLICT:
		default:
			t.Fatalf("capture %d: %v; want success or ECONFLICT", i, err)
		}
	}
	stored, err := s.svc.Payment(context.Background(), s.merchant, p.ID)
	taken, ok := s.issuer.Captured(key)
	if won != 1 || err != nil || !ok || stored.AmountCaptured != taken || stored.Status != checkout.PaymentCaptured {
		t.Fatalf("%d of %d captures won; stored %d (%v), the issuer took %d", won, n, stored.AmountCaptured, err, taken)
	}
}

func TestSessionRequestCaptureFields(t *testing.T) {
	h := mustHarness(t)
	for _, tt := range []struct {
		method string
		days   int
		field  string // empty: valid
	}{
		{"", 0, ""}, {"manual", 60, ""}, {"automatic", 1, ""},
		{"later", 0, "capture_method"}, {"Manual", 0, "capture_method"},
		{"manual", 61, "authorization_ttl"}, {"manual", -1, "authorization_ttl"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.method, tt.days), func(t *testing.T) {
			sess, _, err := h.svc.CreateSession(context.Background(), h.merchant, "", checkout.SessionRequest{
				Amount: 1500, Currency: "JPY", OrderID: "o-1", SuccessURL: "https://shop.example/done",
				CaptureMethod: tt.method, AuthorizationTTL: tt.days,
			})
			if tt.field != "" {
				var e *checkout.Error
				if checkout.ErrorCode(err) != checkout.EINVALID || !errors.As(err, &e) || e.Field != tt.field {
					t.Fatalf("%v; want EINVALID on %s", err, tt.field)
				}
				return
			}
			wantMethod, wantDays := tt.method, tt.days
			if wantMethod == "" {
				wantMethod = checkout.CaptureAutomatic
			}
			if wantDays == 0 {
				wantDays = checkout.DefaultAuthorizationDays
			}
			if err != nil || sess.CaptureMethod != wantMethod || sess.AuthorizationDays != wantDays {
				t.Fatalf("session %q, %d days, %v; want %q, %d", sess.CaptureMethod, sess.AuthorizationDays, err, wantMethod, wantDays)
			}
		})
	}
}

// Two instances sweep at once past the authorization's end: the payment
// is expired exactly once, with one event and one reversal, and can no
// longer be captured; one not yet due is left alone.
func TestExpiredAuthorizationsAreVoidedOnce(t *testing.T) {
	s := mustScreened(t, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.svc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	due, _ := s.manualPayment(t, 1)
	later, _ := s.manualPayment(t, 3)
	other := *s.svc // a second instance on the same store and issuer
	clock.Add(int64(24*time.Hour + time.Second))
	before := len(s.events.types())

	counts := make([]int, 2)
	var wg sync.WaitGroup
	for i, svc := range []*checkout.Service{s.svc, &other} {
		wg.Go(func() {
			n, err := svc.ExpireAuthorizations(context.Background())
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != 1 {
		t.Fatalf("the instances expired %v payments; want 1 in all", counts)
	}
	got, err := s.svc.Payment(context.Background(), s.merchant, due.ID)
	if err != nil || got.Status != checkout.PaymentExpired || !got.AuthorizedUntil.Equal(due.AuthorizedUntil) {
		t.Fatalf("due payment: %+v, %v; want expired, keeping when", got, err)
	}
	if events := s.events.types()[before:]; len(events) != 1 || events[0] != checkout.EventPaymentExpired {
		t.Fatalf("events of the sweep: %v; want one payment.expired", events)
	}
	if r := s.issuer.Stats().Reversed; r != 1 {
		t.Fatalf("%d reversals; want 1", r)
	}
	if still, _ := s.svc.Payment(context.Background(), s.merchant, later.ID); still.Status != checkout.PaymentAuthorized {
		t.Fatalf("a payment not yet due is %s", still.Status)
	}
	if _, err := s.svc.CapturePayment(context.Background(), s.merchant, due.ID, 0); checkout.ErrorCode(err) != checkout.EAUTHEXPIRED {
		t.Fatalf("capture of an expired payment: %v; want EAUTHEXPIRED", err)
	}
	if n, err := s.svc.ExpireAuthorizations(context.Background()); n != 0 || err != nil {
		t.Fatalf("a second sweep expired %d, %v; want none", n, err)
	}
}

// The sweep runs on its own until its context ends.
func TestExpiryRunsEveryInterval(t *testing.T) {
	s := mustScreened(t, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.svc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	p, _ := s.manualPayment(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.svc.SweepEvery(ctx, 10*time.Millisecond) }()
	clock.Add(int64(48 * time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := s.svc.Payment(context.Background(), s.merchant, p.ID)
		if err == nil && got.Status == checkout.PaymentExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the payment is %s, %v; want expired by the running sweep", got.Status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// atOnce calls f(0) to f(n-1) in goroutines released together, and
// returns their errors once all have returned.
func atOnce(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
