package storetest

import (
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// testRetention: the numbers nobody needs are erased in bounded batches,
// oldest first; a saved card's and one whose payment awaits capture are
// kept (the latter until it is captured), as are those stored within the
// period; the report counts them by state. Its cards are stored years
// before the suite's others, so that the period's start picks out only
// them whatever else the store holds.
func testRetention(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m := mustMerchant(t, s)
	k := mustDataKey(t, s)
	long, before := base.AddDate(-10, 0, 0), base.AddDate(-5, 0, 0)
	card := func(stored time.Time) vault.StoredCard {
		c := newCard(k)
		c.CreatedAt = stored
		if err := s.InsertCard(t.Context(), c); err != nil {
			t.Fatalf("InsertCard: %v", err)
		}
		return c
	}
	pay := func(c vault.StoredCard, status string) checkout.Payment {
		sess := mustSession(t, s, m)
		mustBegin(t, s, sess.ID, base.Add(time.Minute))
		a := newAttempt(sess, 1, checkout.AttemptApproved, base.Add(time.Minute))
		a.CardToken = c.Token
		p := newPayment(sess, a, base.Add(time.Minute))
		p.Status = status
		if status == checkout.PaymentAuthorized {
			p.AmountCaptured, p.AuthorizedUntil = 0, base.AddDate(0, 0, 7)
		}
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		return p
	}
	unpaid, paid := card(long), card(long.Add(time.Hour))
	pay(paid, checkout.PaymentSucceeded)
	awaiting := card(long)
	held := pay(awaiting, checkout.PaymentAuthorized)
	saved := card(long)
	cus := mustCustomer(t, s, m, "")
	if _, _, err := s.SaveCard(t.Context(), checkout.SavedCard{ID: checkout.NewID("card"), CustomerID: cus.ID, CardToken: saved.Token,
		Fingerprint: saved.Fingerprint, Brand: checkout.BrandVisa, Last4: "4242", ExpMonth: 12, ExpYear: 2034,
		Consent: checkout.Consent{Text: "save", Locale: "en", At: long}, CreatedAt: long}); err != nil {
		t.Fatal(err)
	}
	recent := card(before.Add(time.Hour))

	r, err := s.CardRetentionReport(t.Context(), before)
	if err != nil {
		t.Fatal(err)
	}
	if r.Due != 2 || r.Saved < 1 || r.AwaitingCapture < 1 || r.WithinPeriod < 1 {
		t.Fatalf("report before the sweep: %+v; want 2 due", r)
	}
	now := base
	for i, want := range []int{1, 1, 0} { // bounded: one at a time here
		n, err := s.EraseUnneededCards(t.Context(), now, before, 1)
		if err != nil || n != want {
			t.Fatalf("sweep %d: erased %d, %v; want %d", i, n, err, want)
		}
	}
	wantErased(t, s, unpaid.Token, true)
	wantErased(t, s, paid.Token, true)
	for _, kept := range []vault.StoredCard{awaiting, saved, recent} {
		wantErased(t, s, kept.Token, false)
	}
	if r, err = s.CardRetentionReport(t.Context(), before); err != nil || r.Due != 0 || r.Erased < 2 {
		t.Fatalf("report after the sweep: %+v, %v", r, err)
	}

	// Captured, the payment needs its number no more.
	if _, err := s.MovePayment(t.Context(), checkout.PaymentMove{ID: held.ID, From: checkout.PaymentAuthorized, To: checkout.PaymentCaptured,
		AmountCaptured: held.Amount}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.EraseUnneededCards(t.Context(), now, before, 10); err != nil || n != 1 {
		t.Fatalf("after the capture: erased %d, %v; want 1", n, err)
	}
	wantErased(t, s, awaiting.Token, true)
	wantErased(t, s, saved.Token, false)
}
