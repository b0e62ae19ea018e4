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
