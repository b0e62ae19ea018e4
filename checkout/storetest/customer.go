package storetest

import (
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

func newCustomer(m checkout.Merchant, reference string) checkout.Customer {
	return checkout.Customer{ID: checkout.NewID("cus"), MerchantID: m.ID, Reference: reference,
		Email: "taro@example.jp", Name: "山田 太郎", CreatedAt: base}
}

func mustCustomer(tb testing.TB, s Store, m checkout.Merchant, reference string) checkout.Customer {
	tb.Helper()
	c := newCustomer(m, reference)
	if err := s.CreateCustomer(tb.Context(), c); err != nil {
		tb.Fatalf("CreateCustomer: %v", err)
	}
	return c
}

func normCustomer(c checkout.Customer) checkout.Customer { c.CreatedAt = utc(c.CreatedAt); return c }

func normSavedCard(c checkout.SavedCard) checkout.SavedCard {
	c.CreatedAt, c.LastUsedAt, c.Consent.At = utc(c.CreatedAt), utc(c.LastUsedAt), utc(c.Consent.At)
	return c
}

// mustSavedCard tokenizes a card in the vault's table and saves it for the
// customer, with the fingerprint given.
func mustSavedCard(tb testing.TB, s Store, k vault.DataKey, customerID, fingerprint string, saved time.Time) checkout.SavedCard {
	tb.Helper()
	card := newCard(k)
	card.Fingerprint = fingerprint
	if err := s.InsertCard(tb.Context(), card); err != nil {
		tb.Fatalf("InsertCard: %v", err)
	}
	c := checkout.SavedCard{ID: checkout.NewID("card"), CustomerID: customerID, CardToken: card.Token, Fingerprint: fingerprint,
		Brand: checkout.BrandVisa, Last4: "4242", ExpMonth: 12, ExpYear: 2030,
		Consent: checkout.Consent{Text: "Save this card for next time", Locale: "en", At: saved}, InitialPaymentID: checkout.NewID("pay"), CreatedAt: saved}
	stored, created, err := s.SaveCard(tb.Context(), c)
	if err != nil || !created {
		tb.Fatalf("SaveCard: %+v, created %v, %v", stored, created, err)
	}
	wantEqual(tb, "saved card as stored", stored, c, normSavedCard)
	return stored
}

// wantErased checks that the vault's copy of a card's number is gone.
func wantErased(tb testing.TB, s Store, token string, erased bool) {
	tb.Helper()
	c, err := s.Card(tb.Context(), token)
	if err != nil {
		tb.Fatalf("Card: %v", err)
	}
	if got := len(c.Ciphertext) == 0; got != erased {
		tb.Fatalf("card %s erased: %v; want %v", token, got, erased)
	}
}

// testCustomers: customers are kept per merchant with unique references,
// listed in pages, and deleted; a saved card is one per fingerprint and
// customer, and its deletion, or its customer's, erases its number from
// the vault in the same transaction.
func testCustomers(t *testing.T, open func(t *testing.T) Store) {
	t.Run("CreateReadListDelete", func(t *testing.T) {
		s := open(t)
		m, other := mustMerchant(t, s), mustMerchant(t, s)
		a := mustCustomer(t, s, m, "user-1")
		got, err := s.Customer(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantUTC(t, got.CreatedAt)
		wantEqual(t, "customer", got, a, normCustomer)

		wantCode(t, s.CreateCustomer(t.Context(), newCustomer(m, "user-1")), checkout.ECONFLICT, "")
		mustCustomer(t, s, other, "user-1") // another merchant's reference
		b, c := mustCustomer(t, s, m, ""), mustCustomer(t, s, m, "")
		wantCode(t, s.CreateCustomer(t.Context(), newCustomer(checkout.Merchant{ID: checkout.NewID("mer")}, "")), checkout.ENOTFOUND, "")

		var listed []checkout.Customer
		for after := ""; ; {
			page, err := s.Customers(t.Context(), m.ID, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(listed) != 3 {
			t.Fatalf("listed %d customers; want 3: %+v", len(listed), listed)
		}
		for i, c := range listed {
			if i > 0 && listed[i-1].ID >= c.ID {
				t.Fatalf("not in id order: %s then %s", listed[i-1].ID, c.ID)
			}
			if c.MerchantID != m.ID {
				t.Fatalf("another merchant's customer listed: %+v", c)
			}
		}

		if err := s.DeleteCustomer(t.Context(), a.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = s.Customer(t.Context(), a.ID)
		wantCode(t, err, checkout.ENOTFOUND, "no such customer")
		wantCode(t, s.DeleteCustomer(t.Context(), a.ID, base.Add(time.Hour)), checkout.ENOTFOUND, "no such customer")
		page, err := s.Customers(t.Context(), m.ID, "", 10)
		if err != nil || len(page) != 2 || (page[0].ID != b.ID && page[0].ID != c.ID) {
			t.Fatalf("after the deletion: %+v, %v", page, err)
		}
		mustCustomer(t, s, m, "user-1") // a deleted customer's reference is free again
	})

	t.Run("SessionForACustomer", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		cus := mustCustomer(t, s, m, "")
		sess := newSession(m, base)
		sess.CustomerID, sess.SaveCard = cus.ID, checkout.SaveCardRequired
		if err := s.CreateSession(t.Context(), sess); err != nil {
			t.Fatal(err)
		}
		wantSession(t, mustGet(t, s, sess.ID), sess)
		co, err := s.Checkout(t.Context(), sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSession(t, co.Session, sess)
		bad := newSession(m, base)
		bad.CustomerID = checkout.NewID("cus")
		if err := s.CreateSession(t.Context(), bad); err == nil {
			t.Fatal("a session for a customer that does not exist was stored")
		}
	})

	t.Run("AccountUpdater", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		k := mustDataKey(t, s)
		cus := mustCustomer(t, s, m, "")
		saved := mustSavedCard(t, s, k, cus.ID, "fp_"+checkout.NewID("x"), base)
		owned, err := s.CardsByToken(t.Context(), saved.CardToken)
		if err != nil || len(owned) != 1 || owned[0].ID != saved.ID || owned[0].MerchantID != m.ID {
			t.Fatalf("CardsByToken: %+v, %v", owned, err)
		}
		n, err := s.UpdateCardExpiry(t.Context(), saved.CardToken, 3, 2035)
		if err != nil || n != 1 {
			t.Fatalf("UpdateCardExpiry: %d, %v", n, err)
		}
		cards, err := s.SavedCards(t.Context(), cus.ID)
		if err != nil || cards[0].ExpMonth != 3 || cards[0].ExpYear != 2035 {
			t.Fatalf("the saved card after: %+v, %v", cards, err)
		}
		vc, err := s.Card(t.Context(), saved.CardToken)
		if err != nil || vc.ExpMonth != 3 || vc.ExpYear != 2035 {
			t.Fatalf("the vault's card after: %+v, %v", vc, err)
		}
		if n, err := s.UpdateCardExpiry(t.Context(), checkout.NewID("tok"), 3, 2035); err != nil || n != 0 {
			t.Fatalf("an unknown token: %d, %v", n, err)
		}
	})

	t.Run("SavedCards", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		k := mustDataKey(t, s)
		cus, other := mustCustomer(t, s, m, ""), mustCustomer(t, s, m, "")
		first := mustSavedCard(t, s, k, cus.ID, "fp_same", base)
		second := mustSavedCard(t, s, k, cus.ID, "fp_second", base.Add(time.Minute))
		mustSavedCard(t, s, k, other.ID, "fp_same", base) // another customer's card of the same number

		// The same card saved again: the same saved card, its expiry updated.
		again := first
		again.ID, again.ExpYear, again.CreatedAt = checkout.NewID("card"), 2032, base.Add(2*time.Minute)
		stored, created, err := s.SaveCard(t.Context(), again)
		if err != nil || created || stored.ID != first.ID || stored.ExpYear != 2032 {
			t.Fatalf("the same card again: %+v, created %v, %v", stored, created, err)
		}
		first.ExpYear = 2032
		cards, err := s.SavedCards(t.Context(), cus.ID)
		if err != nil || len(cards) != 2 {
			t.Fatalf("SavedCards: %+v, %v", cards, err)
		}
		wantEqual(t, "the most recently saved first", cards[0], second, normSavedCard)
		wantEqual(t, "then the first", cards[1], first, normSavedCard)

		_, _, err = s.SaveCard(t.Context(), checkout.SavedCard{ID: checkout.NewID("card"), CustomerID: checkout.NewID("cus"),
			CardToken: first.CardToken, Fingerprint: "fp_x", Consent: checkout.Consent{At: base}, CreatedAt: base})
		wantCode(t, err, checkout.ENOTFOUND, "no such customer")

		// Deleting one erases its number, and only its.
		wantCode(t, s.DeleteSavedCard(t.Context(), other.ID, first.ID, base), checkout.ENOTFOUND, "no such saved card")
		wantErased(t, s, first.CardToken, false)
		if err := s.DeleteSavedCard(t.Context(), cus.ID, first.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		wantErased(t, s, first.CardToken, true)
		wantErased(t, s, second.CardToken, false)
		if cards, _ := s.SavedCards(t.Context(), cus.ID); len(cards) != 1 || cards[0].ID != second.ID {
			t.Fatalf("after the deletion: %+v", cards)
		}

		// Deleting the customer erases the rest.
		if err := s.DeleteCustomer(t.Context(), cus.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		wantErased(t, s, second.CardToken, true)
		if cards, _ := s.SavedCards(t.Context(), cus.ID); len(cards) != 0 {
			t.Fatalf("a deleted customer's cards: %+v", cards)
		}
		kept, err := s.SavedCards(t.Context(), other.ID)
		if err != nil || len(kept) != 1 {
			t.Fatalf("another customer's cards: %+v, %v", kept, err)
		}
		wantErased(t, s, kept[0].CardToken, false)
	})
}
