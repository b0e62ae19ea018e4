package checkout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

func TestCustomerRequestValidate(t *testing.T) {
	tests := []struct {
		req   checkout.CustomerRequest
		field string
	}{
		{checkout.CustomerRequest{}, ""},
		{checkout.CustomerRequest{Reference: "user-1", Email: "taro@example.jp", Name: "山田 太郎"}, ""},
		{checkout.CustomerRequest{Reference: "user 1"}, "reference"},
		{checkout.CustomerRequest{Reference: strings.Repeat("a", 65)}, "reference"},
		{checkout.CustomerRequest{Email: "taro"}, "email"},
		{checkout.CustomerRequest{Email: "taro@example.jp <x>"}, "email"},
		{checkout.CustomerRequest{Name: strings.Repeat("名", 101)}, "name"},
		{checkout.CustomerRequest{Name: "Taro\x00"}, "name"},
		{checkout.CustomerRequest{Name: "4242 4242 4242 4242"}, "name"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		var field string
		if e, ok := err.(*checkout.Error); ok && e.Code == checkout.EINVALID {
			field = e.Field
		} else if err != nil {
			t.Fatalf("%+v: %v", tt.req, err)
		}
		if field != tt.field {
			t.Errorf("%+v: field %q; want %q", tt.req, field, tt.field)
		}
	}
}

// A merchant sees and deletes only its own customers; deleting a saved
// card, or its customer, leaves the vault unable to give its number back.
func TestCustomersBelongToTheirMerchant(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	other, _, err := h.svc.CreateMerchant(ctx, "Other Shop", []string{"https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{Reference: "user-1", Email: "taro@example.jp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Customer(ctx, other, c.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("another merchant reads the customer: %v", err)
	}
	if err := h.svc.DeleteCustomer(ctx, other, c.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("another merchant deletes the customer: %v", err)
	}
	if list, err := h.svc.Customers(ctx, other, "", 10); err != nil || len(list) != 0 {
		t.Fatalf("another merchant's list: %+v, %v", list, err)
	}

	save := func(number string) checkout.SavedCard {
		t.Helper()
		card, err := h.vault.Tokenize(ctx, []byte(number), "visa", 12, 2030)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := h.db.SaveCard(ctx, checkout.SavedCard{ID: checkout.NewID("card"), CustomerID: c.ID, CardToken: card.Token,
			Fingerprint: card.Fingerprint, Brand: checkout.BrandVisa, Last4: card.Last4, ExpMonth: 12, ExpYear: 2030,
			Consent: checkout.Consent{Text: "Save this card", Locale: "en", At: time.Now()}, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first, second := save(sandbox.CardVisa), save(sandbox.CardMastercard)
	if err := h.svc.DeleteSavedCard(ctx, other, c.ID, first.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("another merchant deletes a saved card: %v", err)
	}
	if err := h.svc.DeleteSavedCard(ctx, h.merchant, c.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.vault.Reveal(ctx, first.CardToken); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("a deleted saved card's number: %v; want ErrErased", err)
	}
	pan, err := h.vault.Reveal(ctx, second.CardToken)
	if err != nil || string(pan) != sandbox.CardMastercard {
		t.Fatalf("the other saved card's number: %v", err)
	}
	if err := h.svc.DeleteCustomer(ctx, h.merchant, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.vault.Reveal(ctx, second.CardToken); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("a deleted customer's card's number: %v; want ErrErased", err)
	}
	if _, err := h.svc.SavedCards(ctx, h.merchant, c.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("a deleted customer's cards: %v", err)
	}
}

// A session saves the card for its customer only where the shopper agreed:
// the ticked box of an optional save, the notice of a required one; the
// same card again is the same saved card; a session cannot name a
// customer that is not the merchant's.
func TestPayingSavesTheCardWithConsent(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	other, _, err := h.svc.CreateMerchant(ctx, "Other Shop", []string{"https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	cus, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{Reference: "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	strangers, err := h.svc.CreateCustomer(ctx, other, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	session := func(customer, save string) (checkout.Session, error) {
		s, _, err := h.svc.CreateSession(ctx, h.merchant, "", checkout.SessionRequest{Amount: 1500, Currency: "JPY", OrderID: "o-1",
			SuccessURL: "https://shop.example/done", Customer: customer, SaveCard: save})
		return s, err
	}
	for _, tc := range []struct{ customer, save, field string }{
		{"", checkout.SaveCardOptional, "save_card"},
		{cus.ID, "always", "save_card"},
		{strangers.ID, checkout.SaveCardOptional, "customer"},
		{"cus_nosuchcustomer", "", "customer"},
	} {
		_, err := session(tc.customer, tc.save)
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != tc.field {
			t.Errorf("customer %q, save_card %q: %v; want EINVALID on %s", tc.customer, tc.save, err, tc.field)
		}
	}
	consent := &checkout.Consent{Text: "Save this card at Tea Shop for next time", Locale: "en"}
	pay := func(save string, number string, agreed *checkout.Consent) error {
		t.Helper()
		sess, err := session(cus.ID, save)
		if err != nil {
			t.Fatal(err)
		}
		req := newShopper(sess.ID)
		req.Number, req.Consent = []byte(number), agreed
		_, err = h.svc.Pay(ctx, req)
		return err
	}
	cards := func() []checkout.SavedCard {
		t.Helper()
		cs, err := h.svc.SavedCards(ctx, h.merchant, cus.ID)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	if err := pay(checkout.SaveCardOptional, sandbox.CardVisa, nil); err != nil || len(cards()) != 0 {
		t.Fatalf("not ticked: %v, %d saved", err, len(cards()))
	}
	if err := pay(checkout.SaveCardOptional, sandbox.CardVisa, consent); err != nil {
		t.Fatal(err)
	}
	saved := cards()
	if len(saved) != 1 || saved[0].Last4 != "4242" || saved[0].Consent.Text != consent.Text || saved[0].Consent.Locale != "en" || saved[0].Consent.At.IsZero() {
		t.Fatalf("ticked: %+v", saved)
	}
	if _, err := h.vault.Reveal(ctx, saved[0].CardToken); err != nil {
		t.Fatalf("the saved card's number: %v", err)
	}
	if err := pay(checkout.SaveCardOptional, sandbox.CardVisa, consent); err != nil || len(cards()) != 1 {
		t.Fatalf("the same card again: %v, %d saved", err, len(cards()))
	}
	if err := pay(checkout.SaveCardRequired, sandbox.CardMastercard, nil); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("a required save without the shopper's agreement: %v; want EINVALID", err)
	}
	if err := pay(checkout.SaveCardRequired, sandbox.CardMastercard, consent); err != nil || len(cards()) != 2 {
		t.Fatalf("a required save: %v, %d saved", err, len(cards()))
	}
	if err := pay("", sandbox.CardJCB, consent); err != nil || len(cards()) != 2 {
		t.Fatalf("a session that does not save: %v, %d saved", err, len(cards()))
	}
}
