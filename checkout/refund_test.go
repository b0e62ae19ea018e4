package checkout_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

func amount(n int64) *int64 { return &n }

// paid pays a session of 1,500 with number, captured at once.
func (s *screened) paid(tb testing.TB, number string) checkout.Payment {
	tb.Helper()
	res, err := s.pay(tb, number, "123")
	if err != nil || res.Payment.Status != checkout.PaymentSucceeded {
		tb.Fatalf("Pay: %+v, %v", res.Payment, err)
	}
	return res.Payment
}

func (s *screened) mustRefund(tb testing.TB, p checkout.Payment, key string, req checkout.RefundRequest) checkout.Refund {
	tb.Helper()
	r, _, err := s.svc.RefundPayment(context.Background(), s.merchant, p.ID, key, req)
	if err != nil {
		tb.Fatalf("RefundPayment: %v", err)
	}
	return r
}

// Refunds in parts, never past what was captured: the payment counts what
// they took and is refunded once they took it all.
func TestRefundsInPartsUpToTheCaptured(t *testing.T) {
	s := mustScreened(t, nil)
	ctx := context.Background()
	p := s.paid(t, sandbox.CardVisa)
	first := s.mustRefund(t, p, "", checkout.RefundRequest{Amount: amount(500), Reason: checkout.RefundRequestedByCustomer, Note: "返品 (1 item)"})
	if first.Status != checkout.RefundSucceeded || first.Amount != 500 || first.Currency != "JPY" || first.Note != "返品 (1 item)" {
		t.Fatalf("first refund: %+v", first)
	}
	after, _ := s.svc.Payment(ctx, s.merchant, p.ID)
	if after.Status != checkout.PaymentSucceeded || after.AmountRefunded != 500 {
		t.Fatalf("after a partial refund: %s, refunded %d", after.Status, after.AmountRefunded)
	}
	if _, _, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "", checkout.RefundRequest{Amount: amount(1001)}); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("a refund past what remains: %v; want EINVALID", err)
	}
	rest := s.mustRefund(t, p, "", checkout.RefundRequest{}) // all that remains
	if rest.Amount != 1000 || rest.Status != checkout.RefundSucceeded {
		t.Fatalf("the rest: %+v", rest)
	}
	after, _ = s.svc.Payment(ctx, s.merchant, p.ID)
	if after.Status != checkout.PaymentRefunded || after.AmountRefunded != 1500 {
		t.Fatalf("refunded in full: %s, refunded %d", after.Status, after.AmountRefunded)
	}
	if _, _, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "", checkout.RefundRequest{}); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("a refund of a refunded payment: %v; want ECONFLICT", err)
	}
	list, err := s.svc.PaymentRefunds(ctx, s.merchant, p.ID)
	if err != nil || len(list) != 2 || list[0].ID != first.ID || list[1].ID != rest.ID {
		t.Fatalf("refunds: %+v, %v", list, err)
	}
	types := s.events.types()
	if got := strings.Join(types[len(types)-2:], ","); got != "refund.succeeded,refund.succeeded" {
		t.Fatalf("events %v", types)
	}
}

// What a refund must not be: of a payment not captured, with a bad reason
// or note, or another merchant's.
func TestRefundRefusals(t *testing.T) {
	s := mustScreened(t, nil)
	ctx := context.Background()
	manual, _ := s.manualPayment(t, 0)
	if _, _, err := s.svc.RefundPayment(ctx, s.merchant, manual.ID, "", checkout.RefundRequest{}); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("refund of an authorized payment: %v; want ECONFLICT", err)
	}
	p := s.paid(t, sandbox.CardVisa)
	for _, req := range []checkout.RefundRequest{
		{Amount: amount(0)}, {Amount: amount(-5)}, {Reason: "changed_mind"},
		{Note: strings.Repeat("あ", 501)}, {Note: "a\x00b"}, {Note: "card 4242 4242 4242 4242 returned"},
	} {
		if _, _, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "", req); checkout.ErrorCode(err) != checkout.EINVALID {
			t.Fatalf("refund %+v: %v; want EINVALID", req, err)
		}
	}
	other, _, err := s.svc.CreateMerchant(ctx, "Other", []string{"https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.svc.RefundPayment(ctx, other, p.ID, "", checkout.RefundRequest{}); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("another merchant's refund: %v; want ENOTFOUND", err)
	}
}

// Concurrent refunds together never take more than was captured.
func TestConcurrentRefundsNeverExceedTheCaptured(t *testing.T) {
	s := mustScreened(t, nil)
	p := s.paid(t, sandbox.CardVisa)
	errs := atOnce(10, func(int) error {
		_, _, err := s.svc.RefundPayment(context.Background(), s.merchant, p.ID, "", checkout.RefundRequest{Amount: amount(400)})
		return err
	})
	won := 0
	for _, err := range errs {
		switch checkout.ErrorCode(err) {
		case "":
			won++
		case checkout.EINVALID:
		default:
			after, _ := s.svc.Payment(context.Background(), s.merchant, p.ID)
			t.Fatalf("refund: %v (payment %+v)", err, after)
		}
	}
	after, _ := s.svc.Payment(context.Background(), s.merchant, p.ID)
	if won != 3 || after.AmountRefunded != 1200 {
		t.Fatalf("%d refunds of 400 went through on 1,500 (refunded %d); want 3 (1,200)", won, after.AmountRefunded)
	}
}

// A refund the issuer refuses fails with its answer and gives its amount
// back.
func TestRefundThatFailsGivesItsAmountBack(t *testing.T) {
	s := mustScreened(t, nil)
	p := s.paid(t, sandbox.CardRefundFails)
	r := s.mustRefund(t, p, "", checkout.RefundRequest{Amount: amount(700)})
	if r.Status != checkout.RefundFailed || r.FailureReason == "" {
		t.Fatalf("refund on the failing card: %+v", r)
	}
	after, _ := s.svc.Payment(context.Background(), s.merchant, p.ID)
	if after.AmountRefunded != 0 || after.Status != checkout.PaymentSucceeded {
		t.Fatalf("after a failed refund: %s, refunded %d", after.Status, after.AmountRefunded)
	}
	if types := s.events.types(); types[len(types)-1] != checkout.EventRefundFailed {
		t.Fatalf("events %v; want refund.failed last", types)
	}
}

// A refund the issuer answers late stays pending, its amount held, until
// the sweep asks again.
func TestLateRefundIsSettledByTheSweep(t *testing.T) {
	s := mustScreened(t, nil)
	s.issuer.LateRefund = 50 * time.Millisecond
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.svc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	p := s.paid(t, sandbox.CardRefundLate)
	r := s.mustRefund(t, p, "", checkout.RefundRequest{})
	if r.Status != checkout.RefundPending {
		t.Fatalf("refund on the late card: %+v; want pending", r)
	}
	if after, _ := s.svc.Payment(context.Background(), s.merchant, p.ID); after.AmountRefunded != 1500 || after.Status != checkout.PaymentSucceeded {
		t.Fatalf("while pending: %s, refunded %d; want succeeded with 1,500 held", after.Status, after.AmountRefunded)
	}
	if n, err := s.svc.SettlePendingRefunds(context.Background()); n != 0 || err != nil {
		t.Fatalf("a sweep at once settled %d, %v; want none (the refund is too young)", n, err)
	}
	clock.Add(int64(time.Minute))
	time.Sleep(60 * time.Millisecond)
	if n, err := s.svc.SettlePendingRefunds(context.Background()); n != 1 || err != nil {
		t.Fatalf("the sweep settled %d, %v; want 1", n, err)
	}
	list, _ := s.svc.PaymentRefunds(context.Background(), s.merchant, p.ID)
	after, _ := s.svc.Payment(context.Background(), s.merchant, p.ID)
	if len(list) != 1 || list[0].Status != checkout.RefundSucceeded || after.Status != checkout.PaymentRefunded {
		t.Fatalf("after the sweep: %+v, payment %s", list, after.Status)
	}
}

// The same Idempotency-Key answers the same refund; with another body it
// is refused.
func TestRefundIdempotency(t *testing.T) {
	s := mustScreened(t, nil)
	ctx := context.Background()
	p := s.paid(t, sandbox.CardVisa)
	req := checkout.RefundRequest{Amount: amount(300), Reason: checkout.RefundDuplicate}
	first, replayed, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "rf-1", req)
	if err != nil || replayed {
		t.Fatalf("first: %v, replayed %v", err, replayed)
	}
	again, replayed, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "rf-1", req)
	if err != nil || !replayed || again.ID != first.ID || again.Status != checkout.RefundSucceeded {
		t.Fatalf("again: %+v, replayed %v, %v", again, replayed, err)
	}
	if _, _, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "rf-1", checkout.RefundRequest{Amount: amount(301)}); checkout.ErrorCode(err) != checkout.EIDEMPOTENCY {
		t.Fatalf("another body: %v; want EIDEMPOTENCY", err)
	}
	if after, _ := s.svc.Payment(ctx, s.merchant, p.ID); after.AmountRefunded != 300 {
		t.Fatalf("refunded %d; want 300 once", after.AmountRefunded)
	}
}

// Refunds and chargebacks bound each other: neither takes what the other
// took.
func TestRefundsAndChargebacksBoundEachOther(t *testing.T) {
	s := mustScreened(t, nil)
	ctx := context.Background()
	cbs := &checkout.Chargebacks{Store: s.db}
	p := s.paid(t, sandbox.CardVisa)
	s.mustRefund(t, p, "", checkout.RefundRequest{Amount: amount(1000)})
	if _, err := cbs.Record(ctx, p.ID, checkout.ChargebackRequest{Amount: 600, ReasonCode: "10.4"}); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("a chargeback past what was not refunded: %v; want EINVALID", err)
	}
	if _, err := cbs.Record(ctx, p.ID, checkout.ChargebackRequest{Amount: 500, ReasonCode: "10.4"}); err != nil {
		t.Fatalf("a chargeback of what remains: %v", err)
	}
	if _, _, err := s.svc.RefundPayment(ctx, s.merchant, p.ID, "", checkout.RefundRequest{Amount: amount(1)}); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("a refund of a charged-back amount: %v; want ECONFLICT", err)
	}
}
