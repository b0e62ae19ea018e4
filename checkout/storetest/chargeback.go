package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// mustPaid stores a paid session of m whose payment has amount, currency
// and screening verdict v, the platform's too ("" for a payment made before
// screening).
func mustPaid(tb testing.TB, s FraudStore, m checkout.Merchant, amount int64, currency string, v checkout.Verdict) checkout.Payment {
	tb.Helper()
	return mustPaidJudged(tb, s, m, amount, currency, v, v)
}

// mustPaidJudged is mustPaid with the platform's verdict apart ("" for a
// payment screened before the platform's verdict existed).
func mustPaidJudged(tb testing.TB, s FraudStore, m checkout.Merchant, amount int64, currency string, v, platform checkout.Verdict) checkout.Payment {
	tb.Helper()
	sess := newSession(m, base)
	sess.Amount, sess.Currency = amount, currency
	if err := s.CreateSession(tb.Context(), sess); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
	now := base.Add(time.Minute)
	mustBegin(tb, s, sess.ID, now)
	a := newAttempt(sess, 1, checkout.AttemptApproved, now)
	p := newPayment(sess, a, now)
	if v != "" {
		a.Risk, p.Risk = decision(v), decision(v)
		if platform == "" {
			a.Risk.Platform, p.Risk.Platform = nil, nil
		} else {
			a.Risk.Platform.Verdict, p.Risk.Platform.Verdict = platform, platform
		}
	}
	if err := s.FinishAttempt(tb.Context(), a, &p); err != nil {
		tb.Fatalf("FinishAttempt: %v", err)
	}
	return p
}

// chargebacks is the domain over the store under test, on the suite's clock.
func chargebacks(s FraudStore) *checkout.Chargebacks {
	return &checkout.Chargebacks{Store: s, Now: func() time.Time { return base.Add(time.Hour) }}
}

func testChargebacks(t *testing.T, open func(t *testing.T) FraudStore) {
	t.Run("CreateAndRead", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		ep := mustEndpoint(t, s, m, checkout.EventChargebackCreated)
		// The platform's verdict is read apart from the merchant's.
		p := mustPaidJudged(t, s, m, 5000, "JPY", checkout.VerdictOK, checkout.VerdictReview)
		year := checkout.GuaranteeYear(base)

		var basis checkout.ChargebackBasis
		var event checkout.WebhookEvent
		want := checkout.Chargeback{
			ID: checkout.NewID("cb"), MerchantID: m.ID, PaymentID: p.ID, Amount: 2000, Currency: "JPY",
			ReasonCode: "10.4", Reason: "不正利用 (fraud)", RiskVerdict: "OK", PlatformVerdict: "REVIEW",
			OccurredAt: base.Add(time.Minute), CreatedAt: base.Add(time.Hour),
			// The store keeps what decide returns; deciding is the domain's.
			Coverage: checkout.Coverage{Covered: true, CoveredAmount: 2000, Currency: "JPY", Reason: checkout.CoverageScreenedOK, Year: year},
		}
		got, err := s.CreateChargeback(t.Context(), m.ID, p.ID, year, func(b checkout.ChargebackBasis) (checkout.Chargeback, checkout.WebhookEvent, error) {
			basis = b
			event = newEvent(m, checkout.EventChargebackCreated, want.CreatedAt)
			return want, event, nil
		})
		if err != nil {
			t.Fatalf("CreateChargeback: %v", err)
		}
		if basis.Payment.ID != p.ID || basis.Payment.Amount != 5000 || basis.RiskVerdict != "OK" || basis.PlatformVerdict != "REVIEW" || basis.Charged != 0 ||
			basis.Guarantee.Custom || len(basis.Used) != 0 {
			t.Fatalf("first basis: %s", show(basis))
		}
		norm := func(c checkout.Chargeback) checkout.Chargeback {
			c.OccurredAt, c.CreatedAt = utc(c.OccurredAt), utc(c.CreatedAt)
			return c
		}
		wantEqual(t, "created", got, want, norm)
		read, err := s.Chargeback(t.Context(), m.ID, want.ID)
		if err != nil {
			t.Fatalf("Chargeback: %v", err)
		}
		wantUTC(t, read.OccurredAt, read.CreatedAt)
		wantEqual(t, "read", read, want, norm)
		// The event went out in the same transaction, to the subscriber.
		ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: event.ID})
		if len(ds) != 1 || ds[0].EndpointID != ep.ID {
			t.Fatalf("deliveries of chargeback.created: %s", show(ds))
		}

		// A second chargeback sees the first: on the payment, and in the
		// year's balance.
		_, err = s.CreateChargeback(t.Context(), m.ID, p.ID, year, func(b checkout.ChargebackBasis) (checkout.Chargeback, checkout.WebhookEvent, error) {
			basis = b
			return checkout.Chargeback{}, checkout.WebhookEvent{}, &checkout.Error{Code: checkout.EINVALID, Message: "refused"}
		})
		wantCode(t, err, checkout.EINVALID, "refused")
		if basis.Charged != 2000 || basis.Used["JPY"] != 2000 {
			t.Fatalf("second basis: %s", show(basis))
		}
		// A refusal stores nothing.
		list, err := s.Chargebacks(t.Context(), m.ID, checkout.ChargebackFilter{PaymentID: p.ID, Limit: 10})
		if err != nil || len(list) != 1 {
			t.Fatalf("Chargebacks after a refusal: %v %s", err, show(list))
		}
		// A different year does not count this one.
		if _, used, err := s.Guarantee(t.Context(), m.ID, year+1); err != nil || len(used) != 0 {
			t.Fatalf("next year's used: %v %v", used, err)
		}
		if _, used, err := s.Guarantee(t.Context(), m.ID, year); err != nil || used["JPY"] != 2000 {
			t.Fatalf("this year's used: %v %v", used, err)
		}
	})

	t.Run("LiabilityShifted", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		c := chargebacks(s)
		year := checkout.GuaranteeYear(base.Add(time.Hour))
		// A REVIEW payment the issuer authenticated: its fraud chargeback
		// is the issuer's, counted apart from the guarantee's cap.
		sess := newSession(m, base)
		sess.Amount = 7000
		if err := s.CreateSession(t.Context(), sess); err != nil {
			t.Fatal(err)
		}
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		p.Status, a.Risk, p.Risk = checkout.PaymentCaptured, decision(checkout.VerdictReview), decision(checkout.VerdictReview)
		p.ThreeDS = &checkout.ThreeDS{AuthenticationID: checkout.NewID("3ds"), Version: checkout.ThreeDSVersion,
			Status: checkout.ThreeDSAuthenticated, ECI: "05", LiabilityShift: true}
		if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(t.Context(), m, p.ID, checkout.ChargebackRequest{Amount: 7000, ReasonCode: "10.4"}); err != nil {
			t.Fatal(err)
		}
		ok := mustPaid(t, s, m, 1000, "JPY", checkout.VerdictOK)
		if _, err := c.Create(t.Context(), m, ok.ID, checkout.ChargebackRequest{Amount: 1000, ReasonCode: "10.4"}); err != nil {
			t.Fatal(err)
		}
		shifted, err := s.LiabilityShifted(t.Context(), m.ID, year)
		if err != nil || len(shifted) != 1 || shifted["JPY"] != 7000 {
			t.Fatalf("LiabilityShifted: %v %v; want JPY 7000", shifted, err)
		}
		if _, used, err := s.Guarantee(t.Context(), m.ID, year); err != nil || len(used) != 1 || used["JPY"] != 1000 {
			t.Fatalf("guarantee used beside a liability shift: %v %v; want JPY 1000", used, err)
		}
		if shifted, err := s.LiabilityShifted(t.Context(), m.ID, year+1); err != nil || len(shifted) != 0 {
			t.Fatalf("next year's liability shifts: %v %v", shifted, err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		m, other := mustMerchant(t, s), mustMerchant(t, s)
		p := mustPaid(t, s, m, 1500, "JPY", checkout.VerdictOK)
		decide := func(checkout.ChargebackBasis) (checkout.Chargeback, checkout.WebhookEvent, error) {
			t.Fatal("decide called for a payment that is not the merchant's")
			return checkout.Chargeback{}, checkout.WebhookEvent{}, nil
		}
		_, err := s.CreateChargeback(t.Context(), other.ID, p.ID, 2031, decide)
		wantCode(t, err, checkout.ENOTFOUND, "no such payment")
		_, err = s.CreateChargeback(t.Context(), m.ID, checkout.NewID("pay"), 2031, decide)
		wantCode(t, err, checkout.ENOTFOUND, "no such payment")
		_, err = s.Chargeback(t.Context(), m.ID, checkout.NewID("cb"))
		wantCode(t, err, checkout.ENOTFOUND, "no such chargeback")
	})

	t.Run("ListAndIsolation", func(t *testing.T) {
		s := open(t)
		m, other := mustMerchant(t, s), mustMerchant(t, s)
		c := chargebacks(s)
		p1 := mustPaid(t, s, m, 3000, "JPY", checkout.VerdictOK)
		p2 := mustPaid(t, s, m, 3000, "JPY", checkout.VerdictReview)
		first, err := c.Create(t.Context(), m, p1.ID, checkout.ChargebackRequest{Amount: 100, ReasonCode: "4837"})
		if err != nil {
			t.Fatal(err)
		}
		c.Now = func() time.Time { return base.Add(2 * time.Hour) }
		second, err := c.Create(t.Context(), m, p2.ID, checkout.ChargebackRequest{Amount: 200, ReasonCode: "4837"})
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.Chargebacks(t.Context(), m.ID, checkout.ChargebackFilter{Limit: 10})
		if err != nil || len(all) != 2 || all[0].ID != second.ID || all[1].ID != first.ID {
			t.Fatalf("newest first: %v %s", err, show(all))
		}
		for _, f := range []checkout.ChargebackFilter{{PaymentID: p2.ID, Limit: 10}, {Limit: 1}} {
			if got, err := s.Chargebacks(t.Context(), m.ID, f); err != nil || len(got) != 1 || got[0].ID != second.ID {
				t.Fatalf("filter %+v: %v %s", f, err, show(got))
			}
		}
		if got, _ := s.Chargebacks(t.Context(), m.ID, checkout.ChargebackFilter{Year: checkout.GuaranteeYear(base) - 1, Limit: 10}); len(got) != 0 {
			t.Fatalf("another year: %s", show(got))
		}
		if got, err := s.Chargebacks(t.Context(), other.ID, checkout.ChargebackFilter{Limit: 10}); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("another merchant's list: %v %s", err, show(got))
		}
		_, err = s.Chargeback(t.Context(), other.ID, first.ID)
		wantCode(t, err, checkout.ENOTFOUND, "")
		// The REVIEW payment's chargeback is linked to its verdict and not covered.
		if second.RiskVerdict != "REVIEW" || second.Coverage.Covered || second.Coverage.Reason != checkout.CoverageNotScreenedOK {
			t.Fatalf("REVIEW payment's chargeback: %s", show(second))
		}
	})

	t.Run("Guarantee", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		g, used, err := s.Guarantee(t.Context(), m.ID, 2031)
		if err != nil || g.Custom || len(used) != 0 {
			t.Fatalf("unset guarantee: %+v %v %v", g, used, err)
		}
		set := checkout.Guarantee{YearlyCap: 250_000, Currency: "JPY", Custom: true, UpdatedAt: base}
		if err := s.SetGuarantee(t.Context(), m.ID, set); err != nil {
			t.Fatalf("SetGuarantee: %v", err)
		}
		set.YearlyCap, set.Currency, set.UpdatedAt = 5000, "USD", base.Add(time.Hour)
		if err := s.SetGuarantee(t.Context(), m.ID, set); err != nil {
			t.Fatalf("SetGuarantee again: %v", err)
		}
		g, _, err = s.Guarantee(t.Context(), m.ID, 2031)
		if err != nil {
			t.Fatal(err)
		}
		wantUTC(t, g.UpdatedAt)
		wantEqual(t, "guarantee", g, set, func(g checkout.Guarantee) checkout.Guarantee { g.UpdatedAt = utc(g.UpdatedAt); return g })
		wantCode(t, s.SetGuarantee(t.Context(), checkout.NewID("mer"), set), checkout.ENOTFOUND, "")

		// Only covered amounts count, by currency; the verdict and the
		// currency decide.
		c := chargebacks(s)
		for _, p := range []checkout.Payment{
			mustPaid(t, s, m, 3000, "USD", checkout.VerdictOK),
			mustPaid(t, s, m, 3000, "USD", checkout.VerdictOK),
			mustPaid(t, s, m, 3000, "USD", checkout.VerdictNG),
			mustPaid(t, s, m, 3000, "USD", ""),
			mustPaid(t, s, m, 3000, "JPY", checkout.VerdictOK),
		} {
			if _, err := c.Create(t.Context(), m, p.ID, checkout.ChargebackRequest{Amount: 3000, ReasonCode: "10.4"}); err != nil {
				t.Fatalf("Create: %v", err)
			}
		}
		_, used, err = s.Guarantee(t.Context(), m.ID, checkout.GuaranteeYear(base))
		if err != nil || len(used) != 1 || used["USD"] != 5000 {
			t.Fatalf("used: %v %v", used, err)
		}
		list, _ := s.Chargebacks(t.Context(), m.ID, checkout.ChargebackFilter{Limit: 10})
		reasons := map[string]int{}
		for _, cb := range list {
			reasons[cb.Coverage.Reason]++
		}
		want := map[string]int{checkout.CoverageScreenedOK: 1, checkout.CoveragePartial: 1, checkout.CoverageNotScreenedOK: 2, checkout.CoverageCurrency: 1}
		if show(reasons) != show(want) {
			t.Fatalf("coverage reasons %v; want %v", reasons, want)
		}
	})

	t.Run("EventPayload", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		mustEndpoint(t, s, m, checkout.EventChargebackCreated)
		p := mustPaid(t, s, m, 1500, "JPY", checkout.VerdictOK)
		drain(t, s)
		cb, err := chargebacks(s).Create(t.Context(), m, p.ID, checkout.ChargebackRequest{Amount: 1500, ReasonCode: "10.4", Reason: "fraud"})
		if err != nil {
			t.Fatal(err)
		}
		ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventType: checkout.EventChargebackCreated})
		if len(ds) != 1 {
			t.Fatalf("deliveries: %s", show(ds))
		}
		// The body the dispatcher will sign, as the claim hands it out.
		jobs := mine(t, mustClaim(t, s, farFuture, farFuture.AddDate(1, 0, 0), 10), m)
		if len(jobs) != 1 || jobs[0].DeliveryID != ds[0].ID {
			t.Fatalf("claimed: %s", show(jobs))
		}
		payload := jobs[0].Payload
		var body struct {
			ID, Type string
			Data     checkout.ChargebackView
		}
		if err := json.Unmarshal(payload, &body); err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
		if body.ID != ds[0].EventID || body.Type != checkout.EventChargebackCreated || body.Data.ID != cb.ID ||
			!body.Data.Coverage.Covered || body.Data.RiskVerdict == nil || *body.Data.RiskVerdict != "OK" {
			t.Fatalf("payload: %s", payload)
		}
	})
}

// ChargebacksAcrossHandles races chargebacks through two handles of one
// store (or one handle twice): on one payment, the amounts never exceed it;
// across payments, the covered amounts never exceed the cap, and the cap is
// used to the last yen.
func ChargebacksAcrossHandles(t *testing.T, a, b FraudStore) {
	m := mustMerchant(t, a)
	if err := a.SetGuarantee(t.Context(), m.ID, checkout.Guarantee{YearlyCap: 10_000, Currency: "JPY", Custom: true, UpdatedAt: base}); err != nil {
		t.Fatal(err)
	}
	one := mustPaid(t, a, m, 5000, "JPY", checkout.VerdictOK)
	var others []checkout.Payment
	for range 8 {
		others = append(others, mustPaid(t, a, m, 3000, "JPY", checkout.VerdictOK))
	}
	type result struct {
		cb  checkout.Chargeback
		err error
	}
	const onOne = 8 // 8 x 1000 on a payment of 5000: 5 fit
	results := make([]result, onOne+len(others))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		s := a
		if i%2 == 1 {
			s = b
		}
		c := chargebacks(s)
		wg.Go(func() {
			<-start
			p, amount := one, int64(1000)
			if i >= onOne {
				p, amount = others[i-onOne], 1700
			}
			cb, err := c.Create(t.Context(), m, p.ID, checkout.ChargebackRequest{Amount: amount, ReasonCode: "10.4"})
			results[i] = result{cb, err}
		})
	}
	close(start)
	wg.Wait()

	onPayment, refused := int64(0), 0
	var covered int64
	partial := 0
	for i, r := range results {
		switch {
		case r.err == nil:
			if r.cb.PaymentID == one.ID {
				onPayment += r.cb.Amount
			}
			covered += r.cb.Coverage.CoveredAmount
			if r.cb.Coverage.Reason == checkout.CoveragePartial {
				partial++
			}
		case checkout.ErrorCode(r.err) == checkout.EINVALID && i < onOne:
			refused++
		default:
			t.Errorf("chargeback %d: %v", i, r.err)
		}
	}
	if onPayment != 5000 || refused != onOne-5 {
		t.Errorf("on one payment of 5000: %d charged back, %d refused; want 5000 and %d", onPayment, refused, onOne-5)
	}
	// Demand: 5000 + 8 x 1700 = 18,600 of covered-eligible chargebacks
	// against a cap of 10,000.
	if covered != 10_000 {
		t.Errorf("covered %d in all; want exactly the cap, 10000", covered)
	}
	if partial > 1 {
		t.Errorf("%d partially covered chargebacks; at most one can straddle the cap", partial)
	}
	_, used, err := b.Guarantee(t.Context(), m.ID, checkout.GuaranteeYear(base.Add(time.Hour)))
	if err != nil || used["JPY"] != 10_000 {
		t.Errorf("used %v (%v); want 10000", used, err)
	}
	var total int64
	for _, p := range append([]checkout.Payment{one}, others...) {
		list, err := a.Chargebacks(t.Context(), m.ID, checkout.ChargebackFilter{PaymentID: p.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, cb := range list {
			total += cb.Amount
		}
	}
	if want := int64(5000 + len(others)*1700); total != want {
		t.Errorf("%d charged back in all; want %d", total, want)
	}
}
