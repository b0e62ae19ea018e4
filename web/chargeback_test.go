package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestChargebacksAndTheGuarantee(t *testing.T) {
	e := mustFraudEnv(t)
	_, hook := e.call(t, e.key, "POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/cb","events":["chargeback.created"]}`)
	payment := e.paid(t) // ¥1,500, screened OK
	_, p := e.call(t, e.key, "GET", "/v1/payments/"+payment, "")
	if risk, _ := p["risk"].(map[string]any); risk["verdict"] != "OK" {
		t.Fatalf("the test payment was not screened OK: %v", p)
	}
	path := "/v1/processor/payments/" + payment + "/chargebacks"

	// The processor records it; the merchant cannot (the guarantee pays
	// the merchant for it), not even on the old merchant route.
	status, m := e.call(t, e.key, "POST", path, `{"amount":1000,"reason_code":"10.4"}`)
	wantError(t, status, m, 401, "unauthorized", "")
	status, m = e.call(t, e.key, "POST", "/v1/payments/"+payment+"/chargebacks", `{"amount":1000,"reason_code":"10.4"}`)
	wantError(t, status, m, 404, "not_found", "")
	status, cb := e.call(t, e.processorKey, "POST", path, `{"amount":1000,"reason_code":"10.4","reason":"Other Fraud: Card-Absent Environment","occurred_at":"`+timeJSON(*e.clock.Load())+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, cb)
	}
	cov, _ := cb["coverage"].(map[string]any)
	id, _ := cb["id"].(string)
	if !strings.HasPrefix(id, "cb_") || cb["object"] != "chargeback" || cb["payment_id"] != payment || cb["amount"] != 1000.0 ||
		cb["currency"] != "JPY" || cb["risk_verdict"] != "OK" || cb["reason_code"] != "10.4" ||
		cov["covered"] != true || cov["covered_amount"] != 1000.0 || cov["reason"] != "screened_ok" || cov["liability_shift"] != false {
		t.Fatalf("created: %v", cb)
	}
	// chargeback.created is in the outbox for the subscribed endpoint.
	_, log := e.call(t, e.key, "GET", "/v1/webhooks/deliveries?event=chargeback.created", "")
	if d := log["data"].([]any); len(d) != 1 || d[0].(map[string]any)["endpoint_id"] != hook["id"] {
		t.Fatalf("chargeback.created deliveries: %v", log)
	}

	// 500 left of the payment: more is refused, and nothing is stored.
	status, m = e.call(t, e.processorKey, "POST", path, `{"amount":501,"reason_code":"10.4"}`)
	wantError(t, status, m, 400, "invalid", "amount")
	if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "at most 500") {
		t.Fatalf("message %q", msg)
	}
	status, m = e.call(t, e.processorKey, "POST", "/v1/processor/payments/pay_nope/chargebacks", `{"amount":1,"reason_code":"10.4"}`)
	wantError(t, status, m, 404, "not_found", "")

	// Read back; another merchant cannot.
	if status, got := e.call(t, e.key, "GET", "/v1/chargebacks/"+id, ""); status != 200 || got["id"] != id {
		t.Fatalf("get: %d %v", status, got)
	}
	status, m = e.call(t, e.otherKey, "GET", "/v1/chargebacks/"+id, "")
	wantError(t, status, m, 404, "not_found", "")
	if _, list := e.call(t, e.key, "GET", "/v1/chargebacks?payment="+payment, ""); len(list["data"].([]any)) != 1 {
		t.Fatalf("list: %v", list)
	}
	if _, list := e.call(t, e.otherKey, "GET", "/v1/chargebacks", ""); len(list["data"].([]any)) != 0 {
		t.Fatalf("another merchant's list: %v", list)
	}

	// The guarantee: the default ¥100,000, ¥1,000 used.
	status, g := e.call(t, e.key, "GET", "/v1/guarantee", "")
	if status != 200 || g["yearly_cap"] != 100000.0 || g["currency"] != "JPY" || g["default"] != true || g["used"] != 1000.0 ||
		g["remaining"] != 99000.0 || g["time_zone"] != "Asia/Tokyo" || g["has_more"] != false ||
		fmt.Sprint(g["liability_shifted"]) != "map[]" {
		t.Fatalf("guarantee: %d %v", status, g)
	}
	if cbs := g["chargebacks"].(map[string]any)["data"].([]any); len(cbs) != 1 || cbs[0].(map[string]any)["id"] != id {
		t.Fatalf("guarantee's chargebacks: %v", g["chargebacks"])
	}
	if start, _ := g["period_start"].(string); !strings.HasSuffix(start, "-12-31T15:00:00Z") {
		t.Fatalf("the year does not start at midnight in Japan: %v", g["period_start"])
	}

	// The cap is the operator's (a term of the contract), never the
	// merchant's: a cap of ¥1,200 leaves ¥200, so the next ¥400 is partly
	// covered, the one after not at all.
	status, m = e.call(t, e.key, "PUT", "/v1/guarantee", `{"yearly_cap":100000000,"currency":"JPY"}`)
	wantError(t, status, m, 404, "not_found", "")
	merchant, err := e.svc.Authenticate(t.Context(), e.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cbs.SetGuarantee(t.Context(), merchant, checkout.GuaranteeRequest{YearlyCap: 1200, Currency: "JPY"}); err != nil {
		t.Fatal(err)
	}
	_, g = e.call(t, e.key, "GET", "/v1/guarantee", "")
	if g["default"] != false || g["remaining"] != 200.0 {
		t.Fatalf("after the operator's cap: %v", g)
	}
	_, second := e.call(t, e.processorKey, "POST", path, `{"amount":400,"reason_code":"4837"}`)
	if cov := second["coverage"].(map[string]any); cov["covered"] != true || cov["covered_amount"] != 200.0 || cov["reason"] != "partially_covered" {
		t.Fatalf("second: %v", second)
	}
	other := e.paid(t)
	_, third := e.call(t, e.processorKey, "POST", "/v1/processor/payments/"+other+"/chargebacks", `{"amount":100,"reason_code":"4837"}`)
	if cov := third["coverage"].(map[string]any); cov["covered"] != false || cov["covered_amount"] != 0.0 || cov["reason"] != "cap_exhausted" {
		t.Fatalf("third: %v", third)
	}
	_, g = e.call(t, e.key, "GET", "/v1/guarantee", "")
	if g["used"] != 1200.0 || g["remaining"] != 0.0 || len(g["chargebacks"].(map[string]any)["data"].([]any)) != 3 {
		t.Fatalf("guarantee at the cap: %v", g)
	}
}

func TestChargebackAndGuaranteeValidation(t *testing.T) {
	e := mustFraudEnv(t)
	payment := e.paid(t)
	path := "/v1/processor/payments/" + payment + "/chargebacks"
	for _, tc := range []struct{ name, body, field string }{
		{"no amount", `{"reason_code":"10.4"}`, "amount"},
		{"amount as text", `{"amount":"100","reason_code":"10.4"}`, "amount"},
		{"fractional amount", `{"amount":1.5,"reason_code":"10.4"}`, "amount"},
		{"no reason code", `{"amount":100}`, "reason_code"},
		{"reason code with a space", `{"amount":100,"reason_code":"10 4"}`, "reason_code"},
		{"reason too long", `{"amount":100,"reason_code":"10.4","reason":"` + strings.Repeat("x", 501) + `"}`, "reason"},
		{"occurred_at not RFC 3339", `{"amount":100,"reason_code":"10.4","occurred_at":"yesterday"}`, "occurred_at"},
		{"occurred_at in the future", `{"amount":100,"reason_code":"10.4","occurred_at":"2999-01-01T00:00:00Z"}`, "occurred_at"},
		{"currency is the payment's", `{"amount":100,"reason_code":"10.4","currency":"USD"}`, "currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.call(t, e.processorKey, "POST", path, tc.body)
			wantError(t, status, m, 400, "invalid", tc.field)
		})
	}
	for name, key := range map[string]string{"no key": "", "a merchant's key": e.key, "a wrong key": e.processorKey + "x"} {
		status, m := e.call(t, key, "POST", path, `{"amount":100,"reason_code":"10.4"}`)
		if status != 401 || m["error"].(map[string]any)["code"] != "unauthorized" {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if _, list := e.call(t, e.key, "GET", "/v1/chargebacks", ""); len(list["data"].([]any)) != 0 {
		t.Fatalf("refused requests stored chargebacks: %v", list)
	}
	for target, field := range map[string]string{"/v1/chargebacks?limit=0": "limit", "/v1/chargebacks?limit=1000": "limit"} {
		status, m := e.call(t, e.key, "GET", target, "")
		wantError(t, status, m, 400, "invalid", field)
	}
}

// The guarantee is the platform's money, so it follows the platform's
// verdict, which no merchant setting loosens (the outside review's
// reproduction): the same risky traffic (four cards from one IP, a
// disposable email, code I, ¥1,900,000) is NG at a merchant on the
// defaults and OK at a merchant that zeroed its rules, but the platform's
// verdict is NG at both, shown beside the merchant's in the API and on the
// chargeback, and a 13.1 chargeback on it is not covered. An ordinary
// payment of the same merchant, OK by both, is.
func TestGuaranteeFollowsThePlatformVerdict(t *testing.T) {
	e := mustFraudEnv(t)
	zeroed, defaults := e.otherKey, e.key
	status, s := e.call(t, zeroed, "PUT", "/v1/risk/settings", `{
		"review_score": 9999, "ng_score": 10000, "challenge_score": 9999,
		"amounts": {"JPY": {"review_above": 0, "ng_above": 0}},
		"card_attempts": {"max": 0}, "cards_per_ip": {"max": 0}, "cards_per_email": {"max": 0},
		"cards_per_device": {"max": 0}, "cards_per_address": {"max": 0}, "failed_auths_per_card": {"max": 0},
		"long_expired": {"max": 0}, "cvc": {"not_present": 0, "illegible": 0, "unchecked": 0},
		"bin_country_mismatch": 0, "disposable_email": 0}`)
	if status != http.StatusOK {
		t.Fatalf("zeroing the rules: %d %v", status, s)
	}

	// pay opens a session of the merchant behind key and pays it with the
	// card from the test's one address; it returns the session's view.
	pay := func(key, origin string, amount int, email, number, cvc string) map[string]any {
		t.Helper()
		body := fmt.Sprintf(`{"amount":%d,"currency":"JPY","order_id":"o-%s","success_url":"%s/done","customer_email":"%s"}`,
			amount, checkout.NewID("t"), origin, email)
		status, sess := e.call(t, key, "POST", "/v1/sessions", body)
		if status != http.StatusCreated {
			t.Fatalf("session: %d %v", status, sess)
		}
		id := sess["id"].(string)
		e.pay(id, "number="+number+"&expiry=12%2F40&name=TARO+YAMADA&cvc="+cvc)
		_, sess = e.call(t, key, "GET", "/v1/sessions/"+id, "")
		return sess
	}
	riskOf := func(sess map[string]any) (merchant, platform map[string]any) {
		t.Helper()
		risk, _ := sess["risk"].(map[string]any) // the latest attempt's
		platform, _ = risk["platform"].(map[string]any)
		if platform == nil {
			t.Fatalf("no platform verdict beside the merchant's: %v", risk)
		}
		return risk, platform
	}

	ordinary := pay(zeroed, "https://other.example", 1500, "hanako@example.jp", "4242424242424242", "123")
	if m, p := riskOf(ordinary); m["verdict"] != "OK" || p["verdict"] != "OK" {
		t.Fatalf("the ordinary payment: merchant %v, platform %v", m, p)
	}
	cards := []string{"5555555555554444", "3530111333300000", "30569309020004", "4000000000000077"}
	var risky []map[string]any
	for _, card := range cards {
		sess := pay(zeroed, "https://other.example", 1_900_000, "buyer@guerrillamail.com", card, "I")
		m, p := riskOf(sess)
		if m["verdict"] != "OK" || m["score"] != 0.0 || p["verdict"] != "NG" || p["score"].(float64) < 80 {
			t.Fatalf("risky traffic at the zeroed merchant: merchant %v, platform %v", m, p)
		}
		risky = append(risky, sess)
	}
	for _, card := range cards {
		m, p := riskOf(pay(defaults, "https://shop.example", 1_900_000, "buyer@guerrillamail.com", card, "I"))
		if m["verdict"] != "NG" || p["verdict"] != "NG" || m["score"] != p["score"] {
			t.Fatalf("the same traffic at a merchant on the defaults: merchant %v, platform %v", m, p)
		}
	}

	// The payment API shows both verdicts.
	last := risky[len(risky)-1]["payment"].(map[string]any)["id"].(string)
	_, payment := e.call(t, zeroed, "GET", "/v1/payments/"+last, "")
	if r := payment["risk"].(map[string]any); r["verdict"] != "OK" || r["platform"].(map[string]any)["verdict"] != "NG" {
		t.Fatalf("payment view: %v", payment)
	}
	// A 13.1 (goods not received: no liability shift) on it is not the
	// platform's to pay, and takes nothing of the cap.
	status, cb := e.call(t, e.processorKey, "POST", "/v1/processor/payments/"+last+"/chargebacks", `{"amount":1900000,"reason_code":"13.1"}`)
	cov, _ := cb["coverage"].(map[string]any)
	if status != http.StatusCreated || cb["risk_verdict"] != "OK" || cb["platform_verdict"] != "NG" ||
		cov["covered"] != false || cov["covered_amount"] != 0.0 || cov["reason"] != checkout.CoveragePlatformNotOK {
		t.Fatalf("13.1 on the risky payment: %d %v", status, cb)
	}
	ordinaryID := ordinary["payment"].(map[string]any)["id"].(string)
	_, cb = e.call(t, e.processorKey, "POST", "/v1/processor/payments/"+ordinaryID+"/chargebacks", `{"amount":1500,"reason_code":"13.1"}`)
	if cov := cb["coverage"].(map[string]any); cb["platform_verdict"] != "OK" || cov["covered"] != true || cov["reason"] != checkout.CoverageScreenedOK {
		t.Fatalf("13.1 on the ordinary payment: %v", cb)
	}
	if _, g := e.call(t, zeroed, "GET", "/v1/guarantee", ""); g["used"] != 1500.0 || g["remaining"] != 98500.0 {
		t.Fatalf("guarantee: %v", g)
	}
}
