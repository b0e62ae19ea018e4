package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// Past the retention period, the sweep erases the number of a card nobody
// saved, and keeps a saved card's; the report says so before and after.
func TestRetentionErasesWhatNobodyNeeds(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	cus, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(number string, save bool) checkout.Payment {
		t.Helper()
		req := checkout.SessionRequest{Amount: 1500, Currency: "JPY", OrderID: "o-1", SuccessURL: "https://shop.example/done"}
		if save {
			req.Customer, req.SaveCard = cus.ID, checkout.SaveCardRequired
		}
		sess, _, err := h.svc.CreateSession(ctx, h.merchant, "", req)
		if err != nil {
			t.Fatal(err)
		}
		pr := newShopper(sess.ID)
		pr.Number = []byte(number)
		if save {
			pr.Consent = &checkout.Consent{Text: "saved", Locale: "en"}
		}
		res, err := h.svc.Pay(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		return res.Payment
	}
	once, kept := pay(sandbox.CardVisa, false), pay(sandbox.CardMastercard, true)

	if n, err := h.svc.EraseUnneededCards(ctx); err != nil || n != 0 {
		t.Fatalf("within the period: erased %d, %v; want none", n, err)
	}
	later := time.Now().Add(checkout.DefaultCardRetention + time.Hour)
	h.svc.Now = func() time.Time { return later }
	r, err := h.svc.CardRetentionReport(ctx)
	if err != nil || r.Due != 1 || r.Saved != 1 {
		t.Fatalf("report past the period: %+v, %v; want 1 due, 1 saved", r, err)
	}
	if n, err := h.svc.EraseUnneededCards(ctx); err != nil || n != 1 {
		t.Fatalf("past the period: erased %d, %v; want 1", n, err)
	}
	if _, err := h.vault.Reveal(ctx, once.CardToken); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("the unsaved card's number: %v; want ErrErased", err)
	}
	if pan, err := h.vault.Reveal(ctx, kept.CardToken); err != nil || string(pan) != sandbox.CardMastercard {
		t.Fatalf("the saved card's number: %v", err)
	}
	if r, err := h.svc.CardRetentionReport(ctx); err != nil || r.Due != 0 || r.Erased != 1 {
		t.Fatalf("report after the sweep: %+v, %v", r, err)
	}
	// The payment stays whole, and is refunded without the number.
	if _, _, err := h.svc.RefundPayment(ctx, h.merchant, once.ID, "", checkout.RefundRequest{}); err != nil {
		t.Fatalf("refund after the erasure: %v", err)
	}
}
