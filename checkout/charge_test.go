package checkout_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// A merchant charges a customer's saved card without its shopper: no
// security code, no 3-D Secure, the stored credential's first payment
// referred to; the Idempotency-Key charges once; the issuer's refusals of
// the sandbox's cards reach the merchant with their reason.
func TestChargeASavedCard(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	cus, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	save := func(number string) checkout.SavedCard {
		t.Helper()
		first, card := h.mustSaveCard(t, cus.ID, number, "123")
		if card.InitialPaymentID != first.ID {
			t.Fatalf("the saved card's first payment: %s; want %s", card.InitialPaymentID, first.ID)
		}
		return card
	}
	visa := save(sandbox.CardVisa)
	charge := checkout.ChargeRequest{Customer: cus.ID, Amount: 980, Currency: "JPY", OrderID: "sub-2026-12", Reason: checkout.ReasonRecurring}

	res, replayed, err := h.svc.Charge(ctx, h.merchant, "sub-2026-12", charge)
	if err != nil || replayed {
		t.Fatalf("charge: %v (replayed %v)", err, replayed)
	}
	p := res.Payment
	claims, err := h.verifier(t).Verify(ctx, res.Token)
	if err != nil || claims.Subject != p.ID || claims.Amount != 980 || claims.Initiator != "merchant" || claims.Reason != "recurring" {
		t.Fatalf("the charge's signed result: %+v, %v", claims, err)
	}
	if p.Status != checkout.PaymentSucceeded || p.Amount != 980 || p.CardToken != visa.CardToken || p.Initiator != checkout.InitiatorMerchant ||
		p.MITReason != checkout.ReasonRecurring || p.View().Initiator != "merchant" || p.ThreeDS != nil {
		t.Fatalf("the charge: %+v", p)
	}
	again, replayed, err := h.svc.Charge(ctx, h.merchant, "sub-2026-12", charge)
	if err != nil || !replayed || again.Payment.ID != p.ID {
		t.Fatalf("the same key again: %+v, replayed %v, %v; want the same payment", again, replayed, err)
	}
	if h.issuer.Stats().Charges != 2 { // the first payment, and this charge once
		t.Fatalf("the issuer charged %d times; want 2", h.issuer.Stats().Charges)
	}
	other := charge
	other.Amount = 1000
	if _, _, err := h.svc.Charge(ctx, h.merchant, "sub-2026-12", other); checkout.ErrorCode(err) != checkout.EIDEMPOTENCY {
		t.Fatalf("the same key with another amount: %v; want EIDEMPOTENCY", err)
	}
	stored, err := h.svc.Payment(ctx, h.merchant, p.ID)
	if err != nil || stored.Initiator != checkout.InitiatorMerchant || stored.MITReason != checkout.ReasonRecurring {
		t.Fatalf("the charge as stored: %+v, %v", stored, err)
	}
	// A retry answers the first charge even once the card is gone.
	if err := h.svc.DeleteSavedCard(ctx, h.merchant, cus.ID, visa.ID); err != nil {
		t.Fatal(err)
	}
	if again, replayed, err := h.svc.Charge(ctx, h.merchant, "sub-2026-12", charge); err != nil || !replayed || again.Payment.ID != p.ID {
		t.Fatalf("a retry after the card was deleted: %+v, replayed %v, %v; want the first payment", again.Payment, replayed, err)
	}
	// Refunds work on it as on any payment.
	if _, _, err := h.svc.RefundPayment(ctx, h.merchant, p.ID, "", checkout.RefundRequest{}); err != nil {
		t.Fatalf("refund the charge: %v", err)
	}

	for _, tc := range []struct{ number, reason string }{
		{sandbox.CardMITClosed, checkout.DeclineCardClosed},
		{sandbox.CardMITNeedsCustomer, checkout.DeclineCustomerRequired},
	} {
		card := save(tc.number)
		req := charge
		req.Card, req.OrderID = card.ID, "declined-"+tc.reason
		_, _, err := h.svc.Charge(ctx, h.merchant, "key-"+tc.reason, req)
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EDECLINED || !strings.Contains(e.Message, tc.reason) {
			t.Errorf("%s: %v; want declined %s", tc.number, err, tc.reason)
		}
		if _, _, again := h.svc.Charge(ctx, h.merchant, "key-"+tc.reason, req); checkout.ErrorCode(again) != checkout.EDECLINED {
			t.Errorf("%s, the same key again: %v; want the decline again", tc.number, again)
		}
	}

	for _, tc := range []struct {
		name, key string
		req       checkout.ChargeRequest
		field     string
	}{
		{"no Idempotency-Key", "", charge, "Idempotency-Key"},
		{"no reason", "k1", func() checkout.ChargeRequest { r := charge; r.Reason = ""; return r }(), "reason"},
		{"another merchant's customer", "k2", func() checkout.ChargeRequest { r := charge; r.Customer = "cus_aaaaaaaaaaaaaaaaaaaaaaaaaa"; return r }(), "customer"},
		{"a card that is not the customer's", "k3", func() checkout.ChargeRequest { r := charge; r.Card = "card_aaaaaaaaaaaaaaaaaaaaaaaaaa"; return r }(), "card"},
	} {
		_, _, err := h.svc.Charge(ctx, h.merchant, tc.key, tc.req)
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != tc.field {
			t.Errorf("%s: %v; want EINVALID on %s", tc.name, err, tc.field)
		}
	}
}
