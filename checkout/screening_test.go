package checkout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// recordingNotifier keeps every event the Service stored, in order.
type recordingNotifier struct {
	mu     sync.Mutex
	events []checkout.WebhookEvent
}

func (n *recordingNotifier) Stored(events []checkout.WebhookEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, events...)
}

// payment is the payment an event carries, as the webhook's body has it.
func (n *recordingNotifier) payment(tb testing.TB, i int) checkout.PaymentView {
	tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	var body struct {
		Data checkout.PaymentView `json:"data"`
	}
	if err := json.Unmarshal(n.events[i].Payload, &body); err != nil {
		tb.Fatalf("event %d: %v", i, err)
	}
	return body.Data
}

func (n *recordingNotifier) types() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.events {
		out = append(out, e.Type)
	}
	return out
}

// screened is the harness with the real risk Screener over its SQLite
// store, a recording Notifier, and merchant settings the test adjusts.
type screened struct {
	*harness
	events *recordingNotifier
	admin  *risk.Admin
}

func mustScreened(tb testing.TB, adjust func(*risk.Settings)) *screened {
	tb.Helper()
	h := mustHarness(tb)
	s := &screened{harness: h, events: &recordingNotifier{},
		admin: &risk.Admin{Settings: h.db, Lists: h.db, Audit: h.db}}
	h.svc.Screener = &risk.Screener{Settings: h.db, Counters: h.db, Lists: h.db}
	h.svc.Notifier = s.events
	if adjust != nil {
		settings := risk.DefaultSettings()
		adjust(&settings)
		if _, err := s.admin.PutSettings(context.Background(), "test", h.merchant.ID, settings); err != nil {
			tb.Fatalf("PutSettings: %v", err)
		}
	}
	return s
}

var shopperIP = netip.MustParseAddr("203.0.113.7")

func (s *screened) pay(tb testing.TB, number, cvc string) (checkout.PayResult, error) {
	tb.Helper()
	sess := s.mustSession(tb)
	req := payRequest(sess.ID, number, cvc)
	req.ClientIP, req.DeviceID = shopperIP, "dev_test"
	return s.svc.Pay(context.Background(), req)
}

// luhnCard returns a valid Visa number for n: distinct cards the sandbox
// approves with any well-formed security code.
func luhnCard(n int) string {
	body := fmt.Sprintf("4%014d", 100_000_000+n)
	for d := '0'; d <= '9'; d++ {
		if checkout.Luhn([]byte(body + string(d))) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

func TestPayScreenedOK(t *testing.T) {
	s := mustScreened(t, nil)
	hook := checkout.WebhookEndpoint{ID: checkout.NewID("we"), MerchantID: s.merchant.ID, URL: "https://shop.example/hooks",
		Events: checkout.WebhookEventTypes, CreatedAt: time.Now()}
	if err := s.db.CreateWebhookEndpoint(context.Background(), hook, checkout.MaxWebhookEndpoints); err != nil {
		t.Fatal(err)
	}
	res, err := s.pay(t, sandbox.CardVisa, "123")
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	p := res.Payment
	if p.Status != checkout.PaymentSucceeded || p.Risk == nil || p.Risk.Verdict != checkout.VerdictOK {
		t.Fatalf("payment %s with risk %+v; want succeeded and OK", p.Status, p.Risk)
	}
	stored, err := s.svc.Payment(context.Background(), s.merchant, p.ID)
	if err != nil || stored.Risk == nil || stored.Risk.Verdict != checkout.VerdictOK {
		t.Fatalf("stored payment risk %+v, %v", stored.Risk, err)
	}
	claims, err := s.verifier(t).Verify(context.Background(), res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Risk == nil || claims.Risk.Verdict != "OK" || claims.Risk.Reasons == nil || claims.Status != checkout.PaymentSucceeded {
		t.Fatalf("result claims risk %+v status %s; want OK with reasons [] and succeeded", claims.Risk, claims.Status)
	}
	if got := s.events.types(); len(got) != 1 || got[0] != checkout.EventPaymentAuthorized {
		t.Fatalf("events %v; want [payment.authorized]", got)
	}
	if v := s.events.payment(t, 0); v.ID != p.ID || v.Risk == nil || v.Status != checkout.PaymentSucceeded {
		t.Fatalf("event data %+v; want the payment as the API shows it", v)
	}
	// The event was stored with the payment, its delivery due.
	ds, err := s.db.WebhookDeliveries(context.Background(), s.merchant.ID, checkout.DeliveryFilter{EventID: s.events.events[0].ID, Limit: 10})
	if err != nil || len(ds) != 1 || ds[0].EndpointID != hook.ID || ds[0].Status != checkout.DeliveryPending {
		t.Fatalf("deliveries of the payment's event: %+v, %v", ds, err)
	}
	// A second submission answers the same payment and emits nothing more.
	again, err := s.svc.Pay(context.Background(), payRequest(res.Session.ID, sandbox.CardVisa, "123"))
	if err != nil || again.Payment.ID != p.ID || len(s.events.types()) != 1 {
		t.Fatalf("second submission: %v, %v, events %v", again.Payment.ID, err, s.events.types())
	}
}

// NG: nothing reaches the issuer, and the shopper is told exactly what a
// declined card is told (no oracle: a card tester cannot tell screening from
// the issuer).
func TestPayScreenedNGIsNotAuthorized(t *testing.T) {
	s := mustScreened(t, nil)
	if _, _, err := s.admin.AddEntry(context.Background(), "test", s.merchant.ID, "ip", "203.0.113.0/24"); err != nil {
		t.Fatal(err)
	}
	before := s.issuer.Stats()

	sess := s.mustSession(t)
	req := payRequest(sess.ID, sandbox.CardVisa, "123")
	req.ClientIP = shopperIP
	cvc := req.CVC
	_, err := s.svc.Pay(context.Background(), req)
	if after := s.issuer.Stats(); after.Calls != before.Calls {
		t.Fatalf("the issuer saw %d calls for a blocked payment", after.Calls-before.Calls)
	}
	if string(cvc) != "\x00\x00\x00" {
		t.Fatalf("the security code was not zeroed on the blocked path")
	}
	var got, want *checkout.Error
	if !errors.As(err, &got) {
		t.Fatalf("Pay: %v; want a declined error", err)
	}
	// What the issuer's own decline answers, from a network nobody blocked.
	clean := mustScreened(t, nil)
	_, plain := clean.pay(t, sandbox.CardDeclined, "123")
	if !errors.As(plain, &want) || clean.issuer.Stats().Calls != 1 {
		t.Fatalf("decline: %v", plain)
	}
	if got.Code != checkout.EDECLINED || got.Code != want.Code || got.Message != want.Message || got.MsgID != want.MsgID ||
		got.Field != want.Field || len(got.Details) != 0 || len(want.Details) != 0 {
		t.Fatalf("blocked answers %+v; a decline answers %+v: they must be the same", got, want)
	}

	attempts, err := s.svc.Attempts(context.Background(), s.merchant, sess.ID)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("attempts: %v, %v", attempts, err)
	}
	a := attempts[0]
	if a.Outcome != checkout.AttemptBlocked || a.Risk == nil || a.Risk.Verdict != checkout.VerdictNG || !a.Risk.Has(risk.RuleBlocklistIP) {
		t.Fatalf("attempt %s with risk %+v; want blocked, NG for blocklist.ip", a.Outcome, a.Risk)
	}
	got2, _, err := s.svc.Session(context.Background(), s.merchant, sess.ID)
	if err != nil || got2.Status != checkout.SessionOpen {
		t.Fatalf("session after a block: %s, %v; want open", got2.Status, err)
	}
	for _, typ := range s.events.types() {
		t.Fatalf("event %s for a blocked payment", typ)
	}
}

// REVIEW: authorized but held; the merchant captures one and voids another.
func TestPayScreenedReviewHeldThenCaptureOrVoid(t *testing.T) {
	s := mustScreened(t, func(st *risk.Settings) { st.Amounts["JPY"] = risk.AmountLimit{Review: 1000, NG: 100_000} })
	ctx := context.Background()

	res, err := s.pay(t, sandbox.CardVisa, "123")
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	held := res.Payment
	if held.Status != checkout.PaymentHeld || held.Risk.Verdict != checkout.VerdictReview || !held.Risk.Has(risk.RuleAmountReview) {
		t.Fatalf("payment %s, risk %+v; want held for amount.review", held.Status, held.Risk)
	}
	claims, err := s.verifier(t).Verify(ctx, res.Token)
	if err != nil || claims.Status != checkout.PaymentHeld || claims.Risk.Verdict != "REVIEW" || claims.Risk.Reasons[0].Rule != risk.RuleAmountReview {
		t.Fatalf("claims %+v, %v; want status held, risk REVIEW with its reason", claims, err)
	}

	captured, err := s.svc.CapturePayment(ctx, s.merchant, held.ID, 0)
	if err != nil || captured.Status != checkout.PaymentCaptured {
		t.Fatalf("capture: %s, %v", captured.Status, err)
	}
	if again, err := s.svc.CapturePayment(ctx, s.merchant, held.ID, 0); err != nil || again.Status != checkout.PaymentCaptured {
		t.Fatalf("capture again: %s, %v; want the captured payment", again.Status, err)
	}
	_, err = s.svc.VoidPayment(ctx, s.merchant, held.ID)
	if checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("void of a captured payment: %v; want ECONFLICT", err)
	}

	res2, err := s.pay(t, sandbox.CardMastercard, "123")
	if err != nil || res2.Payment.Status != checkout.PaymentHeld {
		t.Fatalf("second Pay: %v, %v", res2.Payment.Status, err)
	}
	reversedBefore := s.issuer.Stats().Reversed
	voided, err := s.svc.VoidPayment(ctx, s.merchant, res2.Payment.ID)
	if err != nil || voided.Status != checkout.PaymentVoided {
		t.Fatalf("void: %s, %v", voided.Status, err)
	}
	if s.issuer.Stats().Reversed != reversedBefore+1 {
		t.Fatalf("the issuer reversed %d authorizations on void; want 1", s.issuer.Stats().Reversed-reversedBefore)
	}
	if again, err := s.svc.VoidPayment(ctx, s.merchant, res2.Payment.ID); err != nil || again.Status != checkout.PaymentVoided {
		t.Fatalf("void again: %s, %v", again.Status, err)
	}
	if _, err := s.svc.CapturePayment(ctx, s.merchant, res2.Payment.ID, 0); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("capture of a voided payment: %v; want ECONFLICT", err)
	}

	want := []string{checkout.EventReviewRequired, checkout.EventPaymentCaptured, checkout.EventReviewRequired, checkout.EventPaymentVoided}
	if got := s.events.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v; want %v", got, want)
	}

	// Only held payments: an OK payment is ECONFLICT; another merchant's is
	// not found.
	ok := mustScreened(t, nil)
	okRes, err := ok.pay(t, sandbox.CardVisa, "123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ok.svc.CapturePayment(ctx, ok.merchant, okRes.Payment.ID, 0); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("capture of a succeeded payment: %v; want ECONFLICT", err)
	}
	other, _, err := s.svc.CreateMerchant(ctx, "Other", []string{"https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	capture := func(ctx context.Context, m checkout.Merchant, id string) (checkout.Payment, error) {
		return s.svc.CapturePayment(ctx, m, id, 0)
	}
	for _, f := range []func(context.Context, checkout.Merchant, string) (checkout.Payment, error){capture, s.svc.VoidPayment} {
		if _, err := f(ctx, other, held.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
			t.Fatalf("another merchant's capture or void: %v; want ENOTFOUND", err)
		}
	}
}

// Racing capture and void: exactly one wins, and a voided payment is never
// reported captured.
func TestCaptureVoidRace(t *testing.T) {
	s := mustScreened(t, func(st *risk.Settings) { st.Amounts["JPY"] = risk.AmountLimit{Review: 1000} })
	res, err := s.pay(t, sandbox.CardVisa, "123")
	if err != nil || res.Payment.Status != checkout.PaymentHeld {
		t.Fatalf("Pay: %v %v", res.Payment.Status, err)
	}
	var wg sync.WaitGroup
	var capErr, voidErr error
	wg.Go(func() { _, capErr = s.svc.CapturePayment(context.Background(), s.merchant, res.Payment.ID, 0) })
	wg.Go(func() { _, voidErr = s.svc.VoidPayment(context.Background(), s.merchant, res.Payment.ID) })
	wg.Wait()
	if (capErr == nil) == (voidErr == nil) {
		t.Fatalf("capture %v, void %v: exactly one must win", capErr, voidErr)
	}
	p, _ := s.svc.Payment(context.Background(), s.merchant, res.Payment.ID)
	if (capErr == nil && p.Status != checkout.PaymentCaptured) || (voidErr == nil && p.Status != checkout.PaymentVoided) {
		t.Fatalf("payment is %s after capture %v / void %v", p.Status, capErr, voidErr)
	}
}

// approveWithCVC approves every card but reports the security code check
// the test asks for: an issuer that approves on a wrong code, which the
// sandbox never does.
type approveWithCVC struct {
	*sandbox.Issuer
	check    checkout.CVCCheck
	mu       sync.Mutex
	reversed []string
}

func (a *approveWithCVC) Authorize(ctx context.Context, req *checkout.AuthRequest) (checkout.AuthResult, error) {
	if _, err := a.Issuer.Authorize(ctx, req); err != nil {
		return checkout.AuthResult{}, err
	}
	return checkout.AuthResult{Approved: true, AuthCode: "A1", CVCCheck: a.check}, nil
}

func (a *approveWithCVC) Reverse(ctx context.Context, key string) error {
	a.mu.Lock()
	a.reversed = append(a.reversed, key)
	a.mu.Unlock()
	return a.Issuer.Reverse(ctx, key)
}

// Approved, but the issuer says the security code did not match: Rescreen
// makes it NG, the authorization is reversed and the shopper is declined.
func TestRescreenNGAfterApprovalReverses(t *testing.T) {
	s := mustScreened(t, nil)
	auth := &approveWithCVC{Issuer: sandbox.New(), check: checkout.CVCFail}
	s.svc.Authorizer = auth
	sess := s.mustSession(t)
	_, err := s.svc.Pay(context.Background(), payRequest(sess.ID, sandbox.CardVisa, "999"))
	if checkout.ErrorCode(err) != checkout.EDECLINED || checkout.ErrorMessage(err) != "the card was declined; check the details or use another card, and if this keeps happening, contact your card issuer" {
		t.Fatalf("Pay: %v; want the decline", err)
	}
	if len(auth.reversed) != 1 || auth.reversed[0] != sess.ID+":1" {
		t.Fatalf("reversals %v; want the attempt's authorization reversed", auth.reversed)
	}
	attempts, err := s.svc.Attempts(context.Background(), s.merchant, sess.ID)
	if err != nil || len(attempts) != 1 {
		t.Fatal(attempts, err)
	}
	a := attempts[0]
	if a.Outcome != checkout.AttemptBlocked || a.CVCCheck != checkout.CVCFail || !a.Risk.Has(risk.RuleCVCMismatch) || a.Risk.Verdict != checkout.VerdictNG {
		t.Fatalf("attempt %s cvc %s risk %+v; want blocked with cvc.mismatch", a.Outcome, a.CVCCheck, a.Risk)
	}
	if got, _, _ := s.svc.Session(context.Background(), s.merchant, sess.ID); got.Status != checkout.SessionOpen || got.PaymentID != "" {
		t.Fatalf("session %s with payment %q; want open without one", got.Status, got.PaymentID)
	}
	if len(s.events.types()) != 0 {
		t.Fatalf("events %v for a reversed payment", s.events.types())
	}
}

// failingScreener cannot reach its counters.
type failingScreener struct{ rescreen bool }

var errCountersDown = errors.New("counters: connection refused")

func (f failingScreener) Screen(_ context.Context, _ checkout.ScreenInput) (checkout.RiskDecision, error) {
	if f.rescreen {
		return checkout.RiskDecision{Verdict: checkout.VerdictOK, Reasons: []checkout.RiskReason{}}, nil
	}
	return checkout.RiskDecision{}, errCountersDown
}

func (f failingScreener) Rescreen(context.Context, checkout.RiskDecision, checkout.ScreenInput, checkout.AuthOutcome) (checkout.RiskDecision, error) {
	return checkout.RiskDecision{}, errCountersDown
}

func (failingScreener) RecordExpired(context.Context, checkout.ScreenInput) error {
	return errCountersDown
}

// Screening fails closed: when it cannot judge, nothing is authorized (or
// what was authorized is reversed), and the shopper may try again.
func TestScreeningErrorFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		screener  failingScreener
		calls     int
		reversals int
	}{
		{"screen", failingScreener{}, 0, 0},
		{"rescreen after approval", failingScreener{rescreen: true}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t)
			h.svc.Screener = tc.screener
			before := h.issuer.Stats()
			sess := h.mustSession(t)
			_, err := h.svc.Pay(context.Background(), payRequest(sess.ID, sandbox.CardVisa, "123"))
			if checkout.ErrorCode(err) != checkout.EUNAVAILABLE || !errors.Is(err, errCountersDown) {
				t.Fatalf("Pay: %v; want EUNAVAILABLE caused by the counters", err)
			}
			if strings.Contains(checkout.ErrorMessage(err), "counters") {
				t.Fatalf("the shopper's message tells the cause: %q", checkout.ErrorMessage(err))
			}
			after := h.issuer.Stats()
			if after.Calls-before.Calls != tc.calls || after.Reversed-before.Reversed != tc.reversals {
				t.Fatalf("issuer calls %d reversals %d; want %d and %d", after.Calls-before.Calls, after.Reversed-before.Reversed, tc.calls, tc.reversals)
			}
			got, _, err := h.svc.Session(context.Background(), h.merchant, sess.ID)
			if err != nil || got.Status != checkout.SessionOpen {
				t.Fatalf("session %s, %v; want open for another try", got.Status, err)
			}
		})
	}
}

// Card testing from one IP: past the merchant's threshold of distinct cards,
// every further card is blocked before the issuer, while the cards before
// it paid.
func TestVelocityBlocksCardTesting(t *testing.T) {
	s := mustScreened(t, func(st *risk.Settings) {
		st.CardsPerIP = risk.Velocity{Max: 3, Window: risk.Duration(time.Hour), Score: st.NGScore}
	})
	paid, blocked := 0, 0
	for i := range 8 {
		before := s.issuer.Stats().Calls
		_, err := s.pay(t, luhnCard(i), "123")
		reached := s.issuer.Stats().Calls - before
		switch {
		case err == nil:
			paid++
			if i >= 3 {
				t.Fatalf("card %d paid past the threshold", i+1)
			}
		case checkout.ErrorCode(err) == checkout.EDECLINED && reached == 0:
			blocked++
		default:
			t.Fatalf("card %d: %v (issuer calls %d)", i+1, err, reached)
		}
	}
	if paid != 3 || blocked != 5 {
		t.Fatalf("%d paid, %d blocked; want 3 and 5", paid, blocked)
	}
	// A shopper from another network still pays.
	sess := s.mustSession(t)
	req := payRequest(sess.ID, luhnCard(100), "123")
	req.ClientIP = netip.MustParseAddr("198.51.100.20")
	if _, err := s.svc.Pay(context.Background(), req); err != nil {
		t.Fatalf("an ordinary shopper: %v", err)
	}
}

// Cards that expired long ago, tried from one device, count towards the
// long-expired rule even though they are refused before tokenization.
func TestLongExpiredCardsCounted(t *testing.T) {
	s := mustScreened(t, nil)
	for range 2 {
		sess := s.mustSession(t)
		req := payRequest(sess.ID, luhnCard(7), "123")
		req.Expiry, req.DeviceID = "01/20", "dev_tester"
		if _, err := s.svc.Pay(context.Background(), req); checkout.ErrorCode(err) != checkout.EINVALID {
			t.Fatalf("an expired card: %v; want EINVALID", err)
		}
	}
	sess := s.mustSession(t)
	req := payRequest(sess.ID, sandbox.CardVisa, "123")
	req.DeviceID = "dev_tester"
	res, err := s.svc.Pay(context.Background(), req)
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if !res.Payment.Risk.Has(risk.RuleLongExpiredAttempts) {
		t.Fatalf("risk %+v; want expiry.long_past_attempts after two long-expired cards", res.Payment.Risk)
	}
}

// A platform decision without reasons reads and writes them as [], never
// null, wherever it is encoded.
func TestPlatformDecisionReasonsAreAList(t *testing.T) {
	b, err := json.Marshal(checkout.PlatformDecision{Verdict: checkout.VerdictOK})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"verdict":"OK","score":0,"reasons":[]}`; got != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
	for _, in := range []string{`{"verdict":"OK","score":0,"reasons":null}`, `{"verdict":"OK","score":0}`} {
		var p checkout.PlatformDecision
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatal(err)
		}
		if p.Reasons == nil || len(p.Reasons) != 0 {
			t.Errorf("Unmarshal(%s).Reasons = %#v; want an empty list", in, p.Reasons)
		}
	}
}
