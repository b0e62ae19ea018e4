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
