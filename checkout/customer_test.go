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

// A saved card pays with its security code typed again and nothing else:
// its number comes from the vault for that authorization, nothing new is
// stored, its last use is recorded; a card that is not the customer's, has
// expired or was deleted is refused before anything begins.
func TestPayWithASavedCard(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	cus, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	session := func(customer, save string) checkout.Session {
		t.Helper()
		s, _, err := h.svc.CreateSession(ctx, h.merchant, "", checkout.SessionRequest{Amount: 1500, Currency: "JPY", OrderID: "o-1",
			SuccessURL: "https://shop.example/done", Customer: customer, SaveCard: save})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, visa := h.mustSaveCard(t, cus.ID, sandbox.CardVisa, "123")
	_, amex := h.mustSaveCard(t, cus.ID, sandbox.CardAmex, sandbox.CorrectAmexCode)
	_, strangers := h.mustSaveCard(t, other.ID, sandbox.CardMastercard, "123")

	withSaved := func(sessionID, cardID, cvc string) checkout.PayRequest {
		req := newShopper(sessionID)
		req.Number, req.Expiry, req.Holder, req.CVC, req.SavedCardID = nil, "", "", []byte(cvc), cardID
		return req
	}
	sess := session(cus.ID, "")
	res, err := h.svc.Pay(ctx, withSaved(sess.ID, visa.ID, "123"))
	if err != nil {
		t.Fatalf("pay with the saved Visa: %v", err)
	}
	if res.Payment.CardToken != visa.CardToken || res.Payment.Last4 != "4242" || res.Payment.Fingerprint != visa.Fingerprint {
		t.Fatalf("the payment's card: %+v; want the saved card's", res.Payment.Card())
	}
	cards, _ := h.svc.SavedCards(ctx, h.merchant, cus.ID)
	if cards[0].ID != visa.ID || cards[0].LastUsedAt.IsZero() {
		t.Fatalf("after its use: %+v; want the Visa first, used", cards)
	}
	if res, err := h.svc.Pay(ctx, withSaved(session(cus.ID, "").ID, amex.ID, sandbox.CorrectAmexCode)); err != nil || res.Payment.Brand != checkout.BrandAmex {
		t.Fatalf("pay with the saved American Express and its 4-digit code: %v", err)
	}
	if _, err := h.svc.Pay(ctx, withSaved(session(cus.ID, "").ID, amex.ID, "123")); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("3 digits for the saved American Express: %v; want EINVALID", err)
	}
	if _, err := h.svc.Pay(ctx, withSaved(session(cus.ID, "").ID, visa.ID, "999")); checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("a wrong code for the saved Visa: %v; want declined", err)
	}

	refused := []struct {
		name, session, card string
	}{
		{"another customer's card", session(cus.ID, "").ID, strangers.ID},
		{"a session without a customer", session("", "").ID, visa.ID},
		{"no such card", session(cus.ID, "").ID, "card_nosuchcard"},
	}
	for _, tc := range refused {
		_, err := h.svc.Pay(ctx, withSaved(tc.session, tc.card, "123"))
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != "saved_card" {
			t.Errorf("%s: %v; want EINVALID on saved_card", tc.name, err)
		}
		if attempts, _ := h.svc.Attempts(ctx, h.merchant, tc.session); len(attempts) != 0 {
			t.Errorf("%s: an attempt began", tc.name)
		}
	}
	expired := visa
	expired.ID, expired.Fingerprint, expired.ExpYear = checkout.NewID("card"), "fp_expired", 2020
	if _, _, err := h.db.SaveCard(ctx, expired); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Pay(ctx, withSaved(session(cus.ID, "").ID, expired.ID, "123")); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("an expired saved card: %v; want EINVALID", err)
	}
	if err := h.svc.DeleteSavedCard(ctx, h.merchant, cus.ID, visa.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Pay(ctx, withSaved(session(cus.ID, "").ID, visa.ID, "123")); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("a deleted saved card: %v; want EINVALID", err)
	}
}

// The processor's account updater: the card under a token was reissued
// with a new expiry; its saved card keeps its token, takes the expiry, and
// its merchant hears card.updated, stored with the change.
func TestAccountUpdaterUpdatesSavedCards(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	hook := checkout.WebhookEndpoint{ID: checkout.NewID("we"), MerchantID: h.merchant.ID, URL: "https://shop.example/hooks",
		Events: []string{checkout.EventCardUpdated}, CreatedAt: time.Now()}
	if err := h.db.CreateWebhookEndpoint(ctx, hook, checkout.MaxWebhookEndpoints); err != nil {
		t.Fatal(err)
	}
	cus, err := h.svc.CreateCustomer(ctx, h.merchant, checkout.CustomerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, saved := h.mustSaveCard(t, cus.ID, sandbox.CardVisa, "123")
	token := saved.CardToken
	year := time.Now().Year() + 4

	for _, bad := range []checkout.CardUpdate{{ExpMonth: 13, ExpYear: year}, {ExpMonth: 1, ExpYear: time.Now().Year() - 1}} {
		if _, err := h.svc.UpdateCard(ctx, token, bad); checkout.ErrorCode(err) != checkout.EINVALID {
			t.Errorf("%+v: %v; want EINVALID", bad, err)
		}
	}
	if _, err := h.svc.UpdateCard(ctx, "tok_nobodysaved", checkout.CardUpdate{ExpMonth: 3, ExpYear: year}); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("a token no saved card holds: %v; want ENOTFOUND", err)
	}
	n, err := h.svc.UpdateCard(ctx, token, checkout.CardUpdate{ExpMonth: 3, ExpYear: year})
	if err != nil || n != 1 {
		t.Fatalf("update: %d, %v", n, err)
	}
	cards, _ := h.svc.SavedCards(ctx, h.merchant, cus.ID)
	if cards[0].CardToken != token || cards[0].ExpMonth != 3 || cards[0].ExpYear != year {
		t.Fatalf("the saved card after the update: %+v", cards[0])
	}
	ds, err := h.db.WebhookDeliveries(ctx, h.merchant.ID, checkout.DeliveryFilter{EventType: checkout.EventCardUpdated, Limit: 10})
	if err != nil || len(ds) != 1 {
		t.Fatalf("card.updated deliveries: %+v, %v; want one", ds, err)
	}
}

// mustSaveCard pays a session for the customer that saves the card (the
// shopper agreeing to it), and returns the payment and the saved card.
func (h *harness) mustSaveCard(t *testing.T, customerID, number, cvc string) (checkout.Payment, checkout.SavedCard) {
	t.Helper()
	ctx := context.Background()
	sess, _, err := h.svc.CreateSession(ctx, h.merchant, "", checkout.SessionRequest{Amount: 1500, Currency: "JPY", OrderID: "save",
		SuccessURL: "https://shop.example/done", Customer: customerID, SaveCard: checkout.SaveCardRequired})
	if err != nil {
		t.Fatal(err)
	}
	req := newShopper(sess.ID)
	req.Number, req.CVC, req.Consent = []byte(number), []byte(cvc), &checkout.Consent{Text: "saved", Locale: "en"}
	res, err := h.svc.Pay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	cards, err := h.db.SavedCards(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if c.Fingerprint == res.Payment.Fingerprint {
			return res.Payment, c
		}
	}
	t.Fatalf("the card paid with is not among the customer's saved cards: %+v", cards)
	return checkout.Payment{}, checkout.SavedCard{}
}
