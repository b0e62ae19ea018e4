package checkout_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
)

func TestDecideCoverage(t *testing.T) {
	jpy := checkout.Guarantee{YearlyCap: 100_000, Currency: "JPY"}
	// cb is a chargeback on a payment the merchant's rules and the
	// platform's judged alike; judged sets the platform's apart.
	cb := func(amount int64, currency, verdict string) checkout.Chargeback {
		return checkout.Chargeback{Amount: amount, Currency: currency, RiskVerdict: verdict, PlatformVerdict: verdict}
	}
	judged := func(verdict, platform string) checkout.Chargeback {
		return checkout.Chargeback{Amount: 1000, Currency: "JPY", RiskVerdict: verdict, PlatformVerdict: platform}
	}
	tests := []struct {
		name    string
		g       checkout.Guarantee
		used    map[string]int64
		cb      checkout.Chargeback
		shift   bool
		covered bool
		amount  int64
		reason  string
	}{
		{"screened OK, within the cap", jpy, nil, cb(30_000, "JPY", "OK"), false, true, 30_000, checkout.CoverageScreenedOK},
		{"exactly the remaining balance", jpy, map[string]int64{"JPY": 70_000}, cb(30_000, "JPY", "OK"), false, true, 30_000, checkout.CoverageScreenedOK},
		{"straddles the cap", jpy, map[string]int64{"JPY": 80_000}, cb(30_000, "JPY", "OK"), false, true, 20_000, checkout.CoveragePartial},
		{"cap used up", jpy, map[string]int64{"JPY": 100_000}, cb(1, "JPY", "OK"), false, false, 0, checkout.CoverageCapExhausted},
		{"cap lowered below what was used", jpy, map[string]int64{"JPY": 150_000}, cb(1, "JPY", "OK"), false, false, 0, checkout.CoverageCapExhausted},
		{"zero cap", checkout.Guarantee{Currency: "JPY"}, nil, cb(1, "JPY", "OK"), false, false, 0, checkout.CoverageCapExhausted},
		{"REVIEW", jpy, nil, cb(1000, "JPY", "REVIEW"), false, false, 0, checkout.CoverageNotScreenedOK},
		{"NG", jpy, nil, cb(1000, "JPY", "NG"), false, false, 0, checkout.CoverageNotScreenedOK},
		{"not screened", jpy, nil, cb(1000, "JPY", ""), false, false, 0, checkout.CoverageNotScreenedOK},
		{"merchant OK, platform REVIEW", jpy, nil, judged("OK", "REVIEW"), false, false, 0, checkout.CoveragePlatformNotOK},
		{"merchant OK, platform NG", jpy, nil, judged("OK", "NG"), false, false, 0, checkout.CoveragePlatformNotOK},
		{"merchant OK, screened before the platform's verdict", jpy, nil, judged("OK", ""), false, false, 0, checkout.CoveragePlatformNotOK},
		{"merchant REVIEW, platform OK", jpy, nil, judged("REVIEW", "OK"), false, false, 0, checkout.CoverageNotScreenedOK},
		{"another currency", jpy, nil, cb(1000, "USD", "OK"), false, false, 0, checkout.CoverageCurrency},
		{"other currencies' use does not count", jpy, map[string]int64{"USD": 500_000}, cb(1000, "JPY", "OK"), false, true, 1000, checkout.CoverageScreenedOK},
		{"liability shift, outside the cap", jpy, map[string]int64{"JPY": 100_000}, cb(5000, "JPY", "REVIEW"), true, true, 5000, checkout.CoverageLiabilityShift},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkout.DecideCoverage(tc.g, tc.used, tc.cb, tc.shift, 2031)
			if got.Covered != tc.covered || got.CoveredAmount != tc.amount || got.Reason != tc.reason ||
				got.LiabilityShift != tc.shift || got.Year != 2031 || got.Currency != tc.cb.Currency {
				t.Fatalf("got %+v; want covered=%v amount=%d reason=%s", got, tc.covered, tc.amount, tc.reason)
			}
		})
	}
}

// The guarantee's year is the calendar year in Japan: 2031-12-31T15:00Z is
// already 2032 there.
func TestGuaranteeYearIsJST(t *testing.T) {
	for at, want := range map[string]int{
		"2031-12-31T14:59:59Z":      2031,
		"2031-12-31T15:00:00Z":      2032,
		"2032-01-01T00:00:00+09:00": 2032,
		"2031-12-31T23:59:59+09:00": 2031,
	} {
		tm, _ := time.Parse(time.RFC3339, at)
		if got := checkout.GuaranteeYear(tm); got != want {
			t.Errorf("%s: year %d; want %d", at, got, want)
		}
	}
	from, to := checkout.GuaranteePeriod(2032)
	if from.Format(time.RFC3339) != "2031-12-31T15:00:00Z" || to.Format(time.RFC3339) != "2032-12-31T15:00:00Z" {
		t.Fatalf("period %s to %s", from, to)
	}
}

// chargebackHarness is Chargebacks over a real SQLite store, on a clock
// the test moves, with one merchant and its payments.
type chargebackHarness struct {
	db    *sqlite.DB
	cbs   *checkout.Chargebacks
	now   time.Time
	m     checkout.Merchant
	other checkout.Merchant
}

func mustChargebackHarness(tb testing.TB) *chargebackHarness {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "checkout.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	h := &chargebackHarness{db: db, now: time.Date(2031, 5, 6, 12, 0, 0, 0, time.UTC)}
	h.cbs = &checkout.Chargebacks{Store: db, Now: func() time.Time { return h.now }}
	for _, m := range []*checkout.Merchant{&h.m, &h.other} {
		*m, _, err = checkout.NewMerchant("Chargeback Shop", []string{"https://shop.example"}, h.now)
		if err != nil {
			tb.Fatal(err)
		}
		if err := db.CreateMerchant(tb.Context(), *m); err != nil {
			tb.Fatal(err)
		}
	}
	return h
}

// pay stores a payment of m, screened v, made an hour before now.
func (h *chargebackHarness) pay(tb testing.TB, m checkout.Merchant, amount int64, v checkout.Verdict, status string) checkout.Payment {
	tb.Helper()
	return h.payAuthenticated(tb, m, amount, v, status, nil)
}

// payAuthenticated is pay with a 3-D Secure authentication on the payment.
func (h *chargebackHarness) payAuthenticated(tb testing.TB, m checkout.Merchant, amount int64, v checkout.Verdict, status string, tds *checkout.ThreeDS) checkout.Payment {
	tb.Helper()
	at := h.now.Add(-time.Hour)
	s := checkout.Session{ID: checkout.NewID("cs"), MerchantID: m.ID, Amount: amount, Currency: "JPY", OrderID: "o-1",
		SuccessURL: "https://shop.example/done", Locale: "ja", ResultDelivery: checkout.DeliverPost,
		Status: checkout.SessionOpen, CreatedAt: at, ExpiresAt: at.Add(30 * time.Minute)}
	if err := h.db.CreateSession(tb.Context(), s); err != nil {
		tb.Fatal(err)
	}
	if _, err := h.db.BeginAttempt(tb.Context(), s.ID, at, at.Add(-time.Minute)); err != nil {
		tb.Fatal(err)
	}
	risk := &checkout.RiskDecision{Verdict: v, Reasons: []checkout.RiskReason{},
		Platform: &checkout.PlatformDecision{Verdict: v, Reasons: []checkout.RiskReason{}}}
	a := checkout.Attempt{SessionID: s.ID, N: 1, Outcome: checkout.AttemptApproved, CVCCheck: checkout.CVCPass,
		CardToken: checkout.NewID("tok"), Fingerprint: "fp_1", Brand: checkout.BrandVisa, Last4: "4242", Risk: risk, CreatedAt: at}
	p := checkout.Payment{ID: checkout.NewID("pay"), SessionID: s.ID, MerchantID: m.ID, OrderID: s.OrderID, Amount: amount,
		Currency: "JPY", Status: status, CardToken: a.CardToken, Brand: a.Brand, Last4: a.Last4, ExpMonth: 12, ExpYear: 2034,
		Fingerprint: "fp_1", CVCCheck: checkout.CVCPass, AuthCode: "A1", Risk: risk, ThreeDS: tds, CreatedAt: at}
	if status == checkout.PaymentSucceeded || status == checkout.PaymentCaptured {
		p.AmountCaptured = amount // taken; a held or voided one took nothing
	}
	if err := h.db.FinishAttempt(tb.Context(), a, &p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestChargebackRequestValidation(t *testing.T) {
	h := mustChargebackHarness(t)
	p := h.pay(t, h.m, 5000, checkout.VerdictOK, checkout.PaymentSucceeded)
	held := h.pay(t, h.m, 5000, checkout.VerdictReview, checkout.PaymentHeld)
	ok := checkout.ChargebackRequest{Amount: 1000, ReasonCode: "10.4", Reason: "Other Fraud: Card-Absent Environment"}
	with := func(f func(*checkout.ChargebackRequest)) checkout.ChargebackRequest { r := ok; f(&r); return r }
	tests := []struct {
		name    string
		payment string
		req     checkout.ChargebackRequest
		code    string
		field   string
	}{
		{"zero amount", p.ID, with(func(r *checkout.ChargebackRequest) { r.Amount = 0 }), checkout.EINVALID, "amount"},
		{"negative amount", p.ID, with(func(r *checkout.ChargebackRequest) { r.Amount = -5 }), checkout.EINVALID, "amount"},
		{"over the payment", p.ID, with(func(r *checkout.ChargebackRequest) { r.Amount = 5001 }), checkout.EINVALID, "amount"},
		{"no reason code", p.ID, with(func(r *checkout.ChargebackRequest) { r.ReasonCode = "" }), checkout.EINVALID, "reason_code"},
		{"reason code with spaces", p.ID, with(func(r *checkout.ChargebackRequest) { r.ReasonCode = "10 4" }), checkout.EINVALID, "reason_code"},
		{"reason code too long", p.ID, with(func(r *checkout.ChargebackRequest) { r.ReasonCode = strings.Repeat("1", 33) }), checkout.EINVALID, "reason_code"},
		{"reason too long", p.ID, with(func(r *checkout.ChargebackRequest) { r.Reason = strings.Repeat("詐", 501) }), checkout.EINVALID, "reason"},
		{"reason with control characters", p.ID, with(func(r *checkout.ChargebackRequest) { r.Reason = "a\x00b" }), checkout.EINVALID, "reason"},
		{"reason holding a card number", p.ID, with(func(r *checkout.ChargebackRequest) { r.Reason = "cardholder 4242-4242-4242-4242 disputes" }), checkout.EINVALID, "reason"},
		{"occurred_at not RFC 3339", p.ID, with(func(r *checkout.ChargebackRequest) { r.OccurredAt = "2031/05/06" }), checkout.EINVALID, "occurred_at"},
		{"occurred_at in the future", p.ID, with(func(r *checkout.ChargebackRequest) { r.OccurredAt = "2031-05-06T13:00:00Z" }), checkout.EINVALID, "occurred_at"},
		{"occurred_at before the payment", p.ID, with(func(r *checkout.ChargebackRequest) { r.OccurredAt = "2031-05-06T10:00:00Z" }), checkout.EINVALID, "occurred_at"},
		{"held payment", held.ID, ok, checkout.ECONFLICT, ""},
		{"another merchant's payment", h.pay(t, h.other, 5000, checkout.VerdictOK, checkout.PaymentSucceeded).ID, ok, checkout.ENOTFOUND, ""},
		{"no such payment", checkout.NewID("pay"), ok, checkout.ENOTFOUND, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.cbs.Create(t.Context(), h.m, tc.payment, tc.req)
			var e *checkout.Error
			if checkout.ErrorCode(err) != tc.code {
				t.Fatalf("error %v; want %s", err, tc.code)
			}
			if tc.field != "" {
				if !errors.As(err, &e) || e.Field != tc.field {
					t.Fatalf("error %v; want field %s", err, tc.field)
				}
			}
		})
	}
	list, err := h.db.Chargebacks(t.Context(), h.m.ID, checkout.ChargebackFilter{Limit: 100})
	if err != nil || len(list) != 0 {
		t.Fatalf("refused requests stored chargebacks: %v %d", err, len(list))
	}
}

func TestChargebacksAgainstThePaymentAndTheCap(t *testing.T) {
	h := mustChargebackHarness(t)
	p := h.pay(t, h.m, 80_000, checkout.VerdictOK, checkout.PaymentSucceeded)
	q := h.pay(t, h.m, 50_000, checkout.VerdictOK, checkout.PaymentCaptured)
	r := h.pay(t, h.m, 9_000, checkout.VerdictReview, checkout.PaymentCaptured)
	create := func(pay checkout.Payment, amount int64) checkout.Chargeback {
		t.Helper()
		cb, err := h.cbs.Create(t.Context(), h.m, pay.ID, checkout.ChargebackRequest{Amount: amount, ReasonCode: "10.4", OccurredAt: "2031-05-06T20:30:00+09:00"})
		if err != nil {
			t.Fatalf("Create(%d on %s): %v", amount, pay.ID, err)
		}
		return cb
	}
	first := create(p, 60_000)
	if !first.Coverage.Covered || first.Coverage.CoveredAmount != 60_000 || first.Coverage.Reason != checkout.CoverageScreenedOK ||
		first.RiskVerdict != "OK" || first.Currency != "JPY" || first.OccurredAt.Format(time.RFC3339) != "2031-05-06T11:30:00Z" {
		t.Fatalf("first: %+v", first)
	}
	// 20,000 left of the payment; 25,000 is refused.
	_, err := h.cbs.Create(t.Context(), h.m, p.ID, checkout.ChargebackRequest{Amount: 25_000, ReasonCode: "10.4"})
	if checkout.ErrorCode(err) != checkout.EINVALID || !strings.Contains(checkout.ErrorMessage(err), "at most 20000") {
		t.Fatalf("over the rest of the payment: %v", err)
	}
	second := create(q, 50_000) // 40,000 left of the cap
	if second.Coverage.CoveredAmount != 40_000 || second.Coverage.Reason != checkout.CoveragePartial {
		t.Fatalf("second: %+v", second.Coverage)
	}
	third := create(p, 20_000)
	if third.Coverage.Covered || third.Coverage.Reason != checkout.CoverageCapExhausted {
		t.Fatalf("third: %+v", third.Coverage)
	}
	_, err = h.cbs.Create(t.Context(), h.m, p.ID, checkout.ChargebackRequest{Amount: 1, ReasonCode: "10.4"})
	if checkout.ErrorCode(err) != checkout.EINVALID || !strings.Contains(checkout.ErrorMessage(err), "in full") {
		t.Fatalf("a payment charged back in full: %v", err)
	}
	review := create(r, 9_000)
	if review.Coverage.Covered || review.Coverage.Reason != checkout.CoverageNotScreenedOK || review.RiskVerdict != "REVIEW" {
		t.Fatalf("REVIEW: %+v", review)
	}

	st, err := h.cbs.Status(t.Context(), h.m)
	if err != nil {
		t.Fatal(err)
	}
	if st.Guarantee.YearlyCap != 100_000 || st.Guarantee.Currency != "JPY" || st.Guarantee.Custom || st.Year != 2031 ||
		st.Used != 100_000 || st.Remaining != 0 || len(st.Chargebacks) != 4 || st.HasMore {
		t.Fatalf("status: %+v", st)
	}
	// Another merchant's guarantee is untouched.
	if st, err := h.cbs.Status(t.Context(), h.other); err != nil || st.Used != 0 || st.Remaining != 100_000 || len(st.Chargebacks) != 0 {
		t.Fatalf("other merchant: %+v %v", st, err)
	}

	// Raising the cap applies to new chargebacks only.
	st, err = h.cbs.SetGuarantee(t.Context(), h.m, checkout.GuaranteeRequest{YearlyCap: 150_000, Currency: "JPY"})
	if err != nil || !st.Guarantee.Custom || st.Remaining != 50_000 {
		t.Fatalf("after raising the cap: %+v %v", st, err)
	}
	if again, _ := h.cbs.Chargeback(t.Context(), h.m, third.ID); again.Coverage.Covered {
		t.Fatal("a decided chargeback changed with the cap")
	}
	// A new year (in Japan) starts a new balance.
	h.now = time.Date(2031, 12, 31, 15, 0, 0, 0, time.UTC)
	st, err = h.cbs.Status(t.Context(), h.m)
	if err != nil || st.Year != 2032 || st.Used != 0 || st.Remaining != 150_000 || len(st.Chargebacks) != 0 {
		t.Fatalf("next year: %+v %v", st, err)
	}
	n := h.pay(t, h.m, 1000, checkout.VerdictOK, checkout.PaymentSucceeded)
	if cb, err := h.cbs.Create(t.Context(), h.m, n.ID, checkout.ChargebackRequest{Amount: 1000, ReasonCode: "10.4"}); err != nil ||
		cb.Coverage.Year != 2032 || !cb.Coverage.Covered || !cb.OccurredAt.Equal(h.now) {
		t.Fatalf("next year's chargeback: %+v %v", cb, err)
	}

	for _, bad := range []checkout.GuaranteeRequest{{YearlyCap: -1, Currency: "JPY"}, {YearlyCap: 1, Currency: "jpy"}, {YearlyCap: 1, Currency: "CHF"}, {YearlyCap: checkout.MaxGuaranteeCap + 1, Currency: "JPY"}} {
		if _, err := h.cbs.SetGuarantee(t.Context(), h.m, bad); checkout.ErrorCode(err) != checkout.EINVALID {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestChargebackDefaultGuaranteeIsConfigurable(t *testing.T) {
	h := mustChargebackHarness(t)
	h.cbs.Default = checkout.Guarantee{YearlyCap: 500, Currency: "JPY"}
	p := h.pay(t, h.m, 1000, checkout.VerdictOK, checkout.PaymentSucceeded)
	cb, err := h.cbs.Create(t.Context(), h.m, p.ID, checkout.ChargebackRequest{Amount: 1000, ReasonCode: "4837"})
	if err != nil {
		t.Fatal(err)
	}
	if cb.Coverage.CoveredAmount != 500 || cb.Coverage.Reason != checkout.CoveragePartial {
		t.Fatalf("coverage %+v", cb.Coverage)
	}
}

func TestChargebackLiabilityShift(t *testing.T) {
	h := mustChargebackHarness(t)
	authenticated := &checkout.ThreeDS{AuthenticationID: checkout.NewID("3ds"), Version: checkout.ThreeDSVersion,
		Status: checkout.ThreeDSAuthenticated, ECI: "05", Challenged: true, LiabilityShift: true}
	// REVIEW, captured: outside the guarantee, but 3-D Secure shifted a
	// fraud chargeback to the issuer.
	p := h.payAuthenticated(t, h.m, 150_000, checkout.VerdictReview, checkout.PaymentCaptured, authenticated)
	fraud, err := h.cbs.Create(t.Context(), h.m, p.ID, checkout.ChargebackRequest{Amount: 120_000, ReasonCode: "10.4"})
	if err != nil {
		t.Fatal(err)
	}
	if c := fraud.Coverage; !c.Covered || c.CoveredAmount != 120_000 || c.Reason != checkout.CoverageLiabilityShift || !c.LiabilityShift {
		t.Fatalf("fraud chargeback on an authenticated payment: %+v", c)
	}
	// A dispute (goods not received) is the merchant's whatever the authentication.
	dispute, err := h.cbs.Create(t.Context(), h.m, p.ID, checkout.ChargebackRequest{Amount: 30_000, ReasonCode: "13.1"})
	if err != nil {
		t.Fatal(err)
	}
	if c := dispute.Coverage; c.Covered || c.LiabilityShift || c.Reason != checkout.CoverageNotScreenedOK {
		t.Fatalf("dispute on an authenticated payment: %+v", c)
	}
	// The shift is outside the cap: the year's balance is untouched.
	g, err := h.cbs.Status(t.Context(), h.m)
	if err != nil {
		t.Fatal(err)
	}
	if g.Remaining != g.Guarantee.YearlyCap || g.Used != 0 || g.LiabilityShifted["JPY"] != 120_000 {
		t.Fatalf("guarantee after a liability shift: %+v; want the cap untouched", g)
	}
	// Unavailable (U): no shift, so a fraud chargeback falls to the guarantee's rule.
	u := h.payAuthenticated(t, h.m, 5_000, checkout.VerdictOK, checkout.PaymentSucceeded,
		&checkout.ThreeDS{AuthenticationID: checkout.NewID("3ds"), Version: checkout.ThreeDSVersion, Status: checkout.ThreeDSUnavailable, ECI: "07"})
	cb, err := h.cbs.Create(t.Context(), h.m, u.ID, checkout.ChargebackRequest{Amount: 5_000, ReasonCode: "10.4"})
	if err != nil {
		t.Fatal(err)
	}
	if c := cb.Coverage; !c.Covered || c.LiabilityShift || c.Reason != checkout.CoverageScreenedOK {
		t.Fatalf("fraud chargeback on an unauthenticated OK payment: %+v", c)
	}
}
