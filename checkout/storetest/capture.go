package storetest

import (
	"fmt"
	"sync"
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

// captured stores a payment of 1,500 captured in full, for refunds.
func captured(t *testing.T, s Store) checkout.Payment {
	m := mustMerchant(t, s)
	now := base.Add(time.Minute)
	sess := mustSession(t, s, m)
	mustBegin(t, s, sess.ID, now)
	a := newAttempt(sess, 1, checkout.AttemptApproved, now)
	p := newPayment(sess, a, now)
	if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
		t.Fatalf("FinishAttempt: %v", err)
	}
	return p
}

func newRefund(p checkout.Payment, amount int64, at time.Time) checkout.Refund {
	return checkout.Refund{ID: checkout.NewID("re"), PaymentID: p.ID, MerchantID: p.MerchantID, Amount: amount, Currency: p.Currency,
		Reason: checkout.RefundRequestedByCustomer, Note: "返品", Status: checkout.RefundPending, CreatedAt: at, UpdatedAt: at}
}

// testRefunds: a refund reserves its amount, settles once, gives it back
// when it fails, and makes its payment refunded when it took the rest; an
// Idempotency-Key names one refund.
func testRefunds(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	p := captured(t, s)
	at := base.Add(time.Hour)
	r, created, err := s.CreateRefund(t.Context(), newRefund(p, 600, at), "key-1", hashOf("a"))
	if err != nil || !created {
		t.Fatalf("CreateRefund: %v, created %v", err, created)
	}
	if got, _ := s.Payment(t.Context(), p.ID); got.AmountRefunded != 600 {
		t.Fatalf("refunded %d while pending; want 600", got.AmountRefunded)
	}
	again, created, err := s.CreateRefund(t.Context(), newRefund(p, 600, at.Add(time.Minute)), "key-1", hashOf("a"))
	if err != nil || created || again.ID != r.ID {
		t.Fatalf("the key again: %+v, created %v, %v; want the first refund", again, created, err)
	}
	_, _, err = s.CreateRefund(t.Context(), newRefund(p, 601, at), "key-1", hashOf("b"))
	wantCode(t, err, checkout.EIDEMPOTENCY, "")
	_, _, err = s.CreateRefund(t.Context(), newRefund(p, 901, at), "", nil)
	wantCode(t, err, checkout.EINVALID, "")

	failed, err := s.SettleRefund(t.Context(), r.ID, checkout.RefundFailed, "refused", at.Add(time.Second))
	if err != nil || failed.Status != checkout.RefundFailed || failed.FailureReason != "refused" {
		t.Fatalf("SettleRefund failed: %+v, %v", failed, err)
	}
	_, err = s.SettleRefund(t.Context(), r.ID, checkout.RefundSucceeded, "", at.Add(time.Second))
	wantCode(t, err, checkout.ECONFLICT, "")
	if got, _ := s.Payment(t.Context(), p.ID); got.AmountRefunded != 0 {
		t.Fatalf("refunded %d after a failure; want 0", got.AmountRefunded)
	}
	all, created, err := s.CreateRefund(t.Context(), newRefund(p, 0, at.Add(2*time.Second)), "", nil)
	if err != nil || !created || all.Amount != 1500 {
		t.Fatalf("a refund of all that remains: %+v, %v", all, err)
	}
	if pending, err := s.PendingRefunds(t.Context(), at.Add(3*time.Second), 10); err != nil || len(pending) != 1 || pending[0].ID != all.ID {
		t.Fatalf("pending: %+v, %v", pending, err)
	}
	if _, err := s.SettleRefund(t.Context(), all.ID, checkout.RefundSucceeded, "", at.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Payment(t.Context(), p.ID); got.Status != checkout.PaymentRefunded || got.AmountRefunded != 1500 {
		t.Fatalf("after a refund of all of it: %s, %d", got.Status, got.AmountRefunded)
	}
	if list, err := s.Refunds(t.Context(), p.ID); err != nil || len(list) != 2 || list[0].ID != r.ID || list[1].Status != checkout.RefundSucceeded {
		t.Fatalf("Refunds: %+v, %v", list, err)
	}
	_, err = s.SettleRefund(t.Context(), checkout.NewID("re"), checkout.RefundSucceeded, "", at)
	wantCode(t, err, checkout.ENOTFOUND, "")
}

// RefundsShared: refunds sent at once through two handles on one database
// (two instances) together never take more than was captured (seven of
// 300 on 1,500: five go through), and one Idempotency-Key sent through
// both names at most one refund.
func RefundsShared(t *testing.T, a, b Store) {
	p := captured(t, a)
	at := base.Add(time.Hour)
	const n = 12
	created := make([]bool, n)
	errs := make([]error, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		s := []Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			key := ""
			if i >= n/2 {
				key = "shared-key"
			}
			var r checkout.Refund
			r, created[i], errs[i] = s.CreateRefund(t.Context(), newRefund(p, 300, at), key, hashOf("same"))
			ids[i] = r.ID
		})
	}
	close(start)
	wg.Wait()
	made, keyed := 0, map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil && created[i]:
			made++
		case err == nil:
		case checkout.ErrorCode(err) == checkout.EINVALID, checkout.ErrorCode(err) == checkout.ECONFLICT: // nothing, or too little, remained
			continue
		default:
			t.Fatalf("CreateRefund %d: %v", i, err)
		}
		if i >= n/2 {
			keyed[ids[i]] = true
		}
	}
	got, err := a.Payment(t.Context(), p.ID)
	if err != nil || got.AmountRefunded != 1500 || made != 5 || len(keyed) > 1 {
		t.Fatalf("%d refunds of 300 made on 1,500 (refunded %d, %v), %d refunds under one key; want 5 (1,500), at most 1", made, got.AmountRefunded, err, len(keyed))
	}
}
