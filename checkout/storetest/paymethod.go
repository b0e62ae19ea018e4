package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// testPaymentMethods: a merchant's payment methods are read with the
// merchant wherever it is read, every change is audited with what it
// replaced, and a session's restriction and a payment's method are kept.
func testPaymentMethods(t *testing.T, open func(t *testing.T) Store) {
	t.Run("SettingsAuditedAndReadWithTheMerchant", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		got, err := s.Merchant(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "a new merchant's payment methods", got.PaymentMethods, checkout.DefaultPaymentMethodSettings(), same)

		settings := checkout.PaymentMethodSettings{PaymentMethodSet: checkout.PaymentMethodSet{
			Types:             []checkout.PaymentMethodType{checkout.MethodLumpSum, checkout.MethodInstallments, checkout.MethodRevolving},
			InstallmentCounts: []int{3, 6, 24}}, MinimumAmount: 10000}
		put := func(v checkout.PaymentMethodSettings) []byte {
			b, _ := json.Marshal(v)
			a := audit(m.ID, checkout.AuditPaymentMethodsUpdate, base)
			a.After = b
			if err := s.PutPaymentMethods(t.Context(), m.ID, b, a); err != nil {
				t.Fatalf("PutPaymentMethods: %v", err)
			}
			return b
		}
		first := put(settings)
		second := put(checkout.DefaultPaymentMethodSettings())
		first = put(settings)

		sess := mustSession(t, s, m)
		co, err := s.Checkout(t.Context(), sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		byID, err := s.Merchant(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		byKey, err := s.MerchantByAPIKeyHash(t.Context(), m.APIKeyHash)
		if err != nil {
			t.Fatal(err)
		}
		for what, got := range map[string]checkout.Merchant{"Checkout": co.Merchant, "Merchant": byID, "MerchantByAPIKeyHash": byKey} {
			wantEqual(t, what+"'s payment methods", got.PaymentMethods, settings, same)
		}
		log, err := s.AuditEntries(t.Context(), m.ID, "", 10)
		if err != nil || len(log) != 3 {
			t.Fatalf("AuditEntries: %d, %v; want 3", len(log), err)
		}
		for i, want := range []struct{ before, after []byte }{{second, first}, {first, second}, {nil, first}} {
			sameJSON(t, "entry's before", log[i].Before, want.before)
			sameJSON(t, "entry's after", log[i].After, want.after)
		}
		err = s.PutPaymentMethods(t.Context(), checkout.NewID("mer"), first, audit("mer_missing", checkout.AuditPaymentMethodsUpdate, base))
		wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	})

	t.Run("SessionRestrictionAndPaymentMethodKept", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		now := base.Add(time.Minute)
		sess := newSession(m, base)
		sess.PaymentMethods = &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{checkout.MethodLumpSum, checkout.MethodInstallments}, InstallmentCounts: []int{6}}
		if err := s.CreateSession(t.Context(), sess); err != nil {
			t.Fatal(err)
		}
		wantSession(t, mustGet(t, s, sess.ID), sess)
		co, err := s.Checkout(t.Context(), sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSession(t, co.Session, sess)

		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		p.Method = checkout.PaymentMethod{Type: checkout.MethodInstallments, Installments: 6}
		p.Initiator, p.MITReason = checkout.InitiatorMerchant, checkout.ReasonRecurring // kept as any payment's fields
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatalf("FinishAttempt: %v", err)
		}
		got, err := s.Payment(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "payment in 6 installments", got, p, normPayment)

		// The schema refuses a count no issuer takes, whatever the caller.
		other := mustSession(t, s, m)
		mustBegin(t, s, other.ID, now)
		a = newAttempt(other, 1, checkout.AttemptApproved, now)
		bad := newPayment(other, a, now)
		bad.Method = checkout.PaymentMethod{Type: checkout.MethodInstallments, Installments: 4}
		if err := s.FinishAttempt(t.Context(), a, &bad); err == nil {
			t.Fatal("a payment in 4 installments was stored")
		}
		if _, err := s.Payment(t.Context(), bad.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
			t.Fatalf("the refused payment reads as %v; want ENOTFOUND", err)
		}
	})
}

func same[T any](v T) T { return v }
