package storetest

import (
	"fmt"
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

// testDueAuthorizations: only payments awaiting capture whose
// authorization has ended are due, the longest overdue first, at most
// limit of them.
func testDueAuthorizations(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m := mustMerchant(t, s)
	now := base.Add(time.Minute)
	pay := func(status string, until time.Time) checkout.Payment {
		sess := mustSession(t, s, m)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		p.Status, p.AmountCaptured, p.AuthorizedUntil = status, 0, until
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		return p
	}
	sweep := now.Add(48 * time.Hour)
	older := pay(checkout.PaymentHeld, sweep.Add(-2*time.Hour))
	old := pay(checkout.PaymentAuthorized, sweep.Add(-time.Hour))
	atTheEnd := pay(checkout.PaymentAuthorized, sweep)
	pay(checkout.PaymentAuthorized, sweep.Add(time.Nanosecond*1000)) // not yet
	pay(checkout.PaymentVoided, sweep.Add(-time.Hour))               // awaits nothing
	ids := func(ps []checkout.Payment) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	due, err := s.DueAuthorizations(t.Context(), sweep, 10)
	if got, want := ids(due), []string{older.ID, old.ID, atTheEnd.ID}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("due: %v, %v; want %v", got, err, want)
	}
	wantEqual(t, "a due payment", due[1], old, normPayment)
	if due, err := s.DueAuthorizations(t.Context(), sweep, 2); err != nil || fmt.Sprint(ids(due)) != fmt.Sprint([]string{older.ID, old.ID}) {
		t.Fatalf("due, at most 2: %v, %v", ids(due), err)
	}
}
