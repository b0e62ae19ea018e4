package web

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// cardTesting is the card_testing object of the risk settings.
func cardTesting(tb testing.TB, m map[string]any) map[string]any {
	tb.Helper()
	ct, ok := m["card_testing"].(map[string]any)
	if !ok {
		tb.Fatalf("no card_testing object in %v", m)
	}
	return ct
}

func limitOf(tb testing.TB, m map[string]any, name string) (maxAttempts float64, window string) {
	tb.Helper()
	l, ok := cardTesting(tb, m)[name].(map[string]any)
	if !ok {
		tb.Fatalf("no card_testing.%s in %v", name, m)
	}
	maxAttempts, _ = l["max"].(float64)
	window, _ = l["window"].(string)
	return maxAttempts, window
}

// auditActions lists the merchant's audit log, newest first, as
// "action by actor" with the entry's after.
func (e *testEnv) auditLog(tb testing.TB, key string) []map[string]any {
	tb.Helper()
	w, got := e.api(tb, key, "GET", "/v1/risk/audit", "")
	if w.Code != 200 {
		tb.Fatalf("audit: %d %v", w.Code, got)
	}
	var out []map[string]any
	for _, d := range got["data"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

func sameJSONValue(tb testing.TB, what string, got any, want string) {
	tb.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		tb.Fatalf("%s = %s; want %s", what, g, want)
	}
}

// GET /v1/risk/settings shows the card-testing limits in force; the
// operator's raise shows there and in the audit log; PUT may make them
// stricter and never looser (400 naming the value, nothing changed).
func TestRiskSettingsCardTesting(t *testing.T) {
	env := MustEnv(t)
	w, got := env.api(t, env.key, "GET", "/v1/risk/settings", "")
	if w.Code != 200 {
		t.Fatalf("GET: %d %v", w.Code, got)
	}
	sameJSONValue(t, "card_testing on the platform's limits", got["card_testing"], `{
		"merchant": {"max": 120, "window": "1m"}, "ip": {"max": 10, "window": "10m"},
		"session": {"max": 5, "window": "24h"}, "card": {"max": 5, "window": "1h"}, "chunk": {"max": 5, "window": "1h"}}`)

	// The operator raises this merchant's limit (checkoutd limits set).
	if _, err := env.risk.Limits.SetOperator(context.Background(), risk.OperatorActor, env.merchant.ID,
		risk.LimitOverrides{Merchant: risk.LimitOverride{Max: new(600)}}); err != nil {
		t.Fatalf("SetOperator: %v", err)
	}
	_, got = env.api(t, env.key, "GET", "/v1/risk/settings", "")
	if max, window := limitOf(t, got, "merchant"); max != 600 || window != "1m" {
		t.Fatalf("after the operator's raise: %v %s", max, window)
	}
	if _, other := env.api(t, env.otherKey, "GET", "/v1/risk/settings", ""); other["card_testing"].(map[string]any)["merchant"].(map[string]any)["max"] != 120.0 {
		t.Fatalf("another merchant's limit changed: %v", other["card_testing"])
	}
	log := env.auditLog(t, env.key)
	if len(log) != 1 || log[0]["action"] != "risk.limits.set" || log[0]["actor"] != "operator" || log[0]["before"] != nil {
		t.Fatalf("audit after the operator's change: %v", log)
	}
	sameJSONValue(t, "the operator's entry", log[0]["after"], `{"merchant": {"max": 600}}`)

	// Stricter: accepted, in force, audited.
	w, got = env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":30,"ng_score":70,
		"card_testing":{"merchant":{"max":300},"ip":{"window":"1h"},"card":{"max":5}}}`)
	if w.Code != 200 {
		t.Fatalf("stricter PUT: %d %v", w.Code, got)
	}
	want := `{"merchant": {"max": 300, "window": "1m"}, "ip": {"max": 10, "window": "1h"},
		"session": {"max": 5, "window": "24h"}, "card": {"max": 5, "window": "1h"}, "chunk": {"max": 5, "window": "1h"}}`
	sameJSONValue(t, "PUT's answer", got["card_testing"], want)
	_, got = env.api(t, env.key, "GET", "/v1/risk/settings", "")
	sameJSONValue(t, "GET after the stricter PUT", got["card_testing"], want)
	log = env.auditLog(t, env.key)
	if len(log) != 3 || log[0]["action"] != "risk.limits.update" || log[1]["action"] != "risk.settings.update" ||
		log[0]["actor"] != checkout.APIActor(env.merchant) || log[0]["before"] != nil {
		t.Fatalf("audit after the stricter PUT: %v", log)
	}
	// The card's 5 is the operator's own: not kept as the merchant's.
	sameJSONValue(t, "the merchant's entry", log[0]["after"], `{"merchant": {"max": 300}, "ip": {"window": "1h"}}`)

	// Looser, off or out of range: refused, naming the value; nothing changes.
	for _, tc := range []struct{ name, body, field string }{
		{"above the operator's", `{"card_testing":{"merchant":{"max":601}}}`, "card_testing.merchant.max"},
		{"off", `{"card_testing":{"card":{"max":0}}}`, "card_testing.card.max"},
		{"shorter window", `{"card_testing":{"session":{"window":"1h"}}}`, "card_testing.session.window"},
		{"negative", `{"card_testing":{"ip":{"max":-1}}}`, "card_testing.ip.max"},
		{"window too long", `{"card_testing":{"chunk":{"window":"721h"}}}`, "card_testing.chunk.window"},
		{"the lockout is not the merchant's", `{"card_testing":{"lockout":{"max":100}}}`, "lockout"},
		{"with a valid settings change", `{"review_score":35,"ng_score":90,"card_testing":{"ip":{"max":11}}}`, "card_testing.ip.max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, got := env.api(t, env.key, "PUT", "/v1/risk/settings", tc.body)
			if code, field := errorOf(got); w.Code != 400 || code != "invalid" || field != tc.field {
				t.Fatalf("%d %v; want 400 invalid field %q", w.Code, got, tc.field)
			}
		})
	}
	_, got = env.api(t, env.key, "GET", "/v1/risk/settings", "")
	sameJSONValue(t, "after refused PUTs", got["card_testing"], want)
	if got["review_score"] != 30.0 {
		t.Fatalf("a refused PUT changed the settings: review_score %v", got["review_score"])
	}
	if n := len(env.auditLog(t, env.key)); n != 3 {
		t.Fatalf("refused PUTs were audited: %d entries", n)
	}

	// Sending back what GET showed keeps it; leaving card_testing out
	// follows the operator's again.
	body, _ := json.Marshal(got)
	if w, got := env.api(t, env.key, "PUT", "/v1/risk/settings", string(body)); w.Code != 200 {
		t.Fatalf("PUT of GET's answer: %d %v", w.Code, got)
	}
	if log := env.auditLog(t, env.key); len(log) != 4 || log[0]["action"] != "risk.settings.update" {
		t.Fatalf("an unchanged card_testing was audited: %v", log[0])
	}
	if w, got := env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":30,"ng_score":70}`); w.Code != 200 {
		t.Fatalf("PUT without card_testing: %d %v", w.Code, got)
	}
	_, got = env.api(t, env.key, "GET", "/v1/risk/settings", "")
	if max, window := limitOf(t, got, "merchant"); max != 600 || window != "1m" {
		t.Fatalf("without card_testing: merchant %v/%s; want the operator's 600/1m", max, window)
	}
	if log := env.auditLog(t, env.key); log[0]["action"] != "risk.limits.update" || log[0]["after"] != nil {
		t.Fatalf("the removal of the merchant's limits: %v", log[0])
	}
}

// A merchant's stricter limit applies to its next payment on this
// instance: the change drops the Guard's cached limits at once.
func TestStricterLimitAppliesAtOnce(t *testing.T) {
	env := guarded(t, risk.DefaultGuardSettings(), 0) // 10 attempts per IP
	for range 2 {
		if w := env.pay(env.MustSession(t, "en"), declinedForm); w.Code != 402 {
			t.Fatalf("decline: %d %s", w.Code, w.Body)
		}
	}
	if w, got := env.api(t, env.key, "PUT", "/v1/risk/settings", `{"card_testing":{"ip":{"max":2}}}`); w.Code != 200 {
		t.Fatalf("PUT: %d %v", w.Code, got)
	}
	calls := env.auth.calls.Load()
	if w := env.pay(env.MustSession(t, "en"), declinedForm); w.Code != 429 {
		t.Fatalf("the third attempt from the IP after the merchant's limit of 2: %d %s", w.Code, w.Body)
	}
	if env.auth.calls.Load() != calls {
		t.Fatal("a rate-limited payment reached the issuer")
	}
}
