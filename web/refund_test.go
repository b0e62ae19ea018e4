package web

import (
	"testing"
)

// Refunds through the API: in parts with a reason and a note, replayed by
// an Idempotency-Key, refused past what remains or with a bad field, and
// listed oldest first.
func TestRefundAPI(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	if w := env.pay(id, "number=4242+4242+4242+4242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"); w.Code != 200 {
		t.Fatalf("pay: %d %s", w.Code, w.Body)
	}
	_, s := env.api(t, env.key, "GET", "/v1/sessions/"+id, "")
	pay := s["payment"].(map[string]any)["id"].(string)
	refunds := "/v1/payments/" + pay + "/refunds"

	w := env.do("POST", refunds, `{"amount":500,"reason":"requested_by_customer","note":"one item back"}`,
		"Authorization", "Bearer "+env.key, "Content-Type", "application/json", "Idempotency-Key", "rf-1")
	if w.Code != 201 || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("refund: %d %s", w.Code, w.Body)
	}
	again := env.do("POST", refunds, `{"amount":500,"reason":"requested_by_customer","note":"one item back"}`,
		"Authorization", "Bearer "+env.key, "Content-Type", "application/json", "Idempotency-Key", "rf-1")
	if again.Code != 201 || again.Header().Get("Idempotent-Replayed") != "true" || again.Body.String() != w.Body.String() {
		t.Fatalf("replay: %d %s; want the first refund again", again.Code, again.Body)
	}
	for body, want := range map[string]string{
		`{"amount":1001}`: "amount", `{"amount":0}`: "amount", `{"reason":"whim"}`: "reason", `{"amount":10,"to":"x"}`: "to",
	} {
		if w, m := env.api(t, env.key, "POST", refunds, body); w.Code != 400 || m["error"].(map[string]any)["field"] != want {
			t.Fatalf("refund %s: %d %v; want 400 on %s", body, w.Code, m, want)
		}
	}
	w, rest := env.api(t, env.key, "POST", refunds, "")
	if w.Code != 201 || rest["amount"] != 1000.0 || rest["status"] != "succeeded" || rest["object"] != "refund" || rest["payment_id"] != pay {
		t.Fatalf("the rest: %d %v", w.Code, rest)
	}
	if w, m := env.api(t, env.key, "POST", refunds, ""); w.Code != 409 {
		t.Fatalf("a refund of a refunded payment: %d %v", w.Code, m)
	}
	_, p := env.api(t, env.key, "GET", "/v1/payments/"+pay, "")
	if p["status"] != "refunded" || p["amount_refunded"] != 1500.0 || p["amount_captured"] != 1500.0 {
		t.Fatalf("payment after its refunds: %v", p)
	}
	w, list := env.api(t, env.key, "GET", refunds, "")
	data, _ := list["data"].([]any)
	notes := map[any]any{}
	for _, d := range data {
		notes[d.(map[string]any)["amount"]] = d.(map[string]any)["note"]
	}
	if w.Code != 200 || list["object"] != "list" || len(data) != 2 || notes[500.0] != "one item back" || notes[1000.0] != nil {
		t.Fatalf("list: %d %v", w.Code, list)
	}
	if w, _ := env.api(t, env.otherKey, "GET", refunds, ""); w.Code != 404 {
		t.Fatalf("another merchant's refunds: %d", w.Code)
	}
}
