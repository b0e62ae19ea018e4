package web

import (
	"strings"
	"testing"
)

// GET /v1/payment_methods answers lump sum alone until the merchant saves
// its own; PUT validates, answers the settings in canonical form, is
// audited, and changes only its merchant; a session's restriction is
// checked against them.
func TestPaymentMethodsAPI(t *testing.T) {
	env := MustEnv(t)
	w, got := env.api(t, env.key, "GET", "/v1/payment_methods", "")
	if w.Code != 200 {
		t.Fatalf("GET: %d %v", w.Code, got)
	}
	defaults := `{"object": "payment_method_settings", "types": ["lump_sum"], "installment_counts": [], "minimum_amount": 0}`
	sameJSONValue(t, "a new merchant's methods", map[string]any(got), defaults)

	refused := []struct{ name, body, field string }{
		{"unknown type", `{"types": ["ribo"]}`, "types"},
		{"types not a list", `{"types": "installments"}`, "types"},
		{"count issuers do not take", `{"types": ["installments"], "installment_counts": [3, 7]}`, "installment_counts"},
		{"counts not numbers", `{"types": ["installments"], "installment_counts": ["3"]}`, "installment_counts"},
		{"installments without counts", `{"types": ["installments"]}`, "installment_counts"},
		{"negative minimum", `{"minimum_amount": -1}`, "minimum_amount"},
		{"unknown field", `{"types": ["revolving"], "max_installments": 24}`, "max_installments"},
		{"another object", `{"object": "payment"}`, "object"},
	}
	for _, tc := range refused {
		w, got := env.api(t, env.key, "PUT", "/v1/payment_methods", tc.body)
		e, _ := got["error"].(map[string]any)
		if msg, _ := e["message"].(string); strings.Contains(msg, "another type") || strings.Contains(msg, "PaymentMethod") {
			t.Errorf("%s: the message %q does not say what the merchant should send", tc.name, msg)
		}
		if w.Code != 400 || e["code"] != "invalid" || e["field"] != tc.field {
			t.Errorf("%s: %d %v; want 400 invalid on %s", tc.name, w.Code, got, tc.field)
		}
	}
	if log := env.auditLog(t, env.key); len(log) != 0 {
		t.Fatalf("refused requests were audited: %v", log)
	}

	w, got = env.api(t, env.key, "PUT", "/v1/payment_methods",
		`{"types": ["revolving", "installments"], "installment_counts": [12, 3, 6, 3], "minimum_amount": 10000}`)
	saved := `{"object": "payment_method_settings", "types": ["lump_sum", "installments", "revolving"],
		"installment_counts": [3, 6, 12], "minimum_amount": 10000}`
	if w.Code != 200 {
		t.Fatalf("PUT: %d %v", w.Code, got)
	}
	sameJSONValue(t, "PUT's answer", map[string]any(got), saved)
	_, got = env.api(t, env.key, "GET", "/v1/payment_methods", "")
	sameJSONValue(t, "GET after PUT", map[string]any(got), saved)
	_, other := env.api(t, env.otherKey, "GET", "/v1/payment_methods", "")
	sameJSONValue(t, "another merchant's methods", map[string]any(other), defaults)
	log := env.auditLog(t, env.key)
	if len(log) != 1 || log[0]["action"] != "payment_methods.update" || log[0]["before"] != nil {
		t.Fatalf("audit after PUT: %v", log)
	}
	sameJSONValue(t, "the entry's after", log[0]["after"], `{"types": ["lump_sum", "installments", "revolving"],
		"installment_counts": [3, 6, 12], "minimum_amount": 10000}`)

	session := func(restriction string) (int, map[string]any) {
		w, got := env.api(t, env.key, "POST", "/v1/sessions", `{"amount": 30000, "currency": "JPY", "order_id": "o-1",
			"success_url": "https://shop.example/done", "payment_methods": `+restriction+`}`)
		return w.Code, got
	}
	if code, got := session(`{"types": ["installments"], "installment_counts": [6]}`); code != 201 {
		t.Fatalf("a restriction within the merchant's: %d %v", code, got)
	} else {
		sameJSONValue(t, "the session's restriction", got["payment_methods"], `{"types": ["lump_sum", "installments"], "installment_counts": [6]}`)
	}
	for restriction, field := range map[string]string{
		`{"types": ["bonus_lump_sum"]}`:                           "payment_methods.types",
		`{"types": ["installments"], "installment_counts": [24]}`: "payment_methods.installment_counts",
	} {
		code, got := session(restriction)
		e, _ := got["error"].(map[string]any)
		if code != 400 || e["field"] != field {
			t.Errorf("restriction %s: %d %v; want 400 on %s", restriction, code, got, field)
		}
	}
}
