package checkout_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// The payment's state machine after authorization, every status against
// every action the merchant (or the processor) can take: what is allowed,
// what it is refused with, and where an allowed one leaves the payment.
func TestPaymentTransitions(t *testing.T) {
	s := mustScreened(t, nil)
	review := mustScreened(t, func(st *risk.Settings) { st.Amounts["JPY"] = risk.AmountLimit{Review: 1000, NG: 100_000} })
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.svc.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	ctx := context.Background()

	// in makes a payment in status on s (held ones on review).
	in := func(t *testing.T, status string) (*screened, checkout.Payment) {
		t.Helper()
		switch status {
		case checkout.PaymentSucceeded, checkout.PaymentHeld:
			h := s
			if status == checkout.PaymentHeld {
				h = review
			}
			res, err := h.svc.Pay(ctx, newShopper(h.mustSession(t).ID))
			if err != nil || res.Payment.Status != status {
				t.Fatalf("%s: %+v, %v", status, res.Payment, err)
			}
			return h, res.Payment
		}
		p, _ := s.manualPayment(t, 1)
		var err error
		switch status {
		case checkout.PaymentCaptured:
			p, err = s.svc.CapturePayment(ctx, s.merchant, p.ID, 0)
		case checkout.PaymentVoided:
			p, err = s.svc.VoidPayment(ctx, s.merchant, p.ID)
		case checkout.PaymentExpired:
			clock.Add(int64(25 * time.Hour))
			_, err = s.svc.ExpireAuthorizations(ctx)
			clock.Add(-int64(25 * time.Hour))
			p, _ = s.svc.Payment(ctx, s.merchant, p.ID)
		}
		if err != nil || p.Status != status {
			t.Fatalf("%s: %+v, %v", status, p, err)
		}
		return s, p
	}
	type action struct {
		name string
		do   func(h *screened, p checkout.Payment) error
	}
	capture := action{"capture", func(h *screened, p checkout.Payment) error {
		_, err := h.svc.CapturePayment(ctx, h.merchant, p.ID, 0)
		return err
	}}
	void := action{"void", func(h *screened, p checkout.Payment) error {
		_, err := h.svc.VoidPayment(ctx, h.merchant, p.ID)
		return err
	}}
	refund := action{"refund", func(h *screened, p checkout.Payment) error {
		_, _, err := h.svc.RefundPayment(ctx, h.merchant, p.ID, "", checkout.RefundRequest{})
		return err
	}}
	chargeback := action{"chargeback", func(h *screened, p checkout.Payment) error {
		_, err := (&checkout.Chargebacks{Store: h.db}).Record(ctx, p.ID, checkout.ChargebackRequest{Amount: 100, ReasonCode: "10.4"})
		return err
	}}
	const ok = ""
	tests := []struct {
		status string
		action action
		want   string // the error code; ok: allowed
		after  string // the status an allowed action leaves
	}{
		{checkout.PaymentSucceeded, capture, checkout.ECONFLICT, ""},
		{checkout.PaymentSucceeded, void, checkout.ECONFLICT, ""},
		{checkout.PaymentSucceeded, refund, ok, checkout.PaymentRefunded},
		{checkout.PaymentSucceeded, chargeback, ok, checkout.PaymentSucceeded},

		{checkout.PaymentAuthorized, capture, ok, checkout.PaymentCaptured},
		{checkout.PaymentAuthorized, void, ok, checkout.PaymentVoided},
		{checkout.PaymentAuthorized, refund, checkout.ECONFLICT, ""},
		{checkout.PaymentAuthorized, chargeback, checkout.ECONFLICT, ""},

		{checkout.PaymentHeld, capture, ok, checkout.PaymentCaptured},
		{checkout.PaymentHeld, void, ok, checkout.PaymentVoided},
		{checkout.PaymentHeld, refund, checkout.ECONFLICT, ""},
		{checkout.PaymentHeld, chargeback, checkout.ECONFLICT, ""},

		{checkout.PaymentCaptured, capture, ok, checkout.PaymentCaptured}, // the same capture again
		{checkout.PaymentCaptured, void, checkout.ECONFLICT, ""},
		{checkout.PaymentCaptured, refund, ok, checkout.PaymentRefunded},
		{checkout.PaymentCaptured, chargeback, ok, checkout.PaymentCaptured},

		{checkout.PaymentVoided, capture, checkout.ECONFLICT, ""},
		{checkout.PaymentVoided, void, ok, checkout.PaymentVoided}, // the same void again
		{checkout.PaymentVoided, refund, checkout.ECONFLICT, ""},
		{checkout.PaymentVoided, chargeback, checkout.ECONFLICT, ""},

		{checkout.PaymentExpired, capture, checkout.EAUTHEXPIRED, ""},
		{checkout.PaymentExpired, void, checkout.ECONFLICT, ""},
		{checkout.PaymentExpired, refund, checkout.ECONFLICT, ""},
		{checkout.PaymentExpired, chargeback, checkout.ECONFLICT, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.status, tt.action.name), func(t *testing.T) {
			h, p := in(t, tt.status)
			err := tt.action.do(h, p)
			if checkout.ErrorCode(err) != tt.want {
				t.Fatalf("%s of a %s payment: %v; want %q", tt.action.name, tt.status, err, tt.want)
			}
			after, _ := h.svc.Payment(ctx, h.merchant, p.ID)
			want := tt.after
			if tt.want != ok {
				want = tt.status // a refusal leaves it as it was
			}
			if after.Status != want {
				t.Fatalf("after %s: %s; want %s", tt.action.name, after.Status, want)
			}
		})
	}

	// Refunded: nothing remains for a refund or a chargeback, and it never
	// awaited a capture.
	t.Run("refunded", func(t *testing.T) {
		_, p := in(t, checkout.PaymentSucceeded)
		if err := refund.do(s, p); err != nil {
			t.Fatal(err)
		}
		for a, want := range map[*action]string{&capture: checkout.ECONFLICT, &void: checkout.ECONFLICT, &refund: checkout.ECONFLICT, &chargeback: checkout.EINVALID} {
			if err := a.do(s, p); checkout.ErrorCode(err) != want {
				t.Errorf("%s of a refunded payment: %v; want %q", a.name, err, want)
			}
		}
	})
}
