package storetest

import (
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// CaptureColumnsDownAndUp checks a store's migration 00014 (the capture
// columns): downAndUp takes the schema below it and up again. What the
// up derives for payments made before it must read as the Service would
// have made them: one taken in full has its whole amount captured, a held
// one may be captured until seven days after it was made.
func CaptureColumnsDownAndUp(t *testing.T, s Store, downAndUp func(t *testing.T)) {
	m := mustMerchant(t, s)
	now := base.Add(time.Minute)
	pay := func(status string) checkout.Payment {
		sess := mustSession(t, s, m)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		p.Status = status
		if status == checkout.PaymentHeld {
			p.AmountCaptured, p.AuthorizedUntil = 0, now.AddDate(0, 0, checkout.DefaultAuthorizationDays)
		}
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		return p
	}
	paid, held := pay(checkout.PaymentSucceeded), pay(checkout.PaymentHeld)
	downAndUp(t)
	for _, want := range []checkout.Payment{paid, held} {
		got, err := s.Payment(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, want.Status+" payment after 00014 down and up", got, want, normPayment)
		sess := mustGet(t, s, want.SessionID)
		if sess.CaptureMethod != checkout.CaptureAutomatic || sess.AuthorizationDays != checkout.DefaultAuthorizationDays {
			t.Fatalf("session after 00014 down and up: %q, %d days", sess.CaptureMethod, sess.AuthorizationDays)
		}
	}
}
