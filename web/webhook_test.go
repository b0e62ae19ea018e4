package web

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
)

// fraudEnv is testEnv with webhooks and chargebacks wired in, as checkoutd
// wires them: the Service records its events through the Webhooks outbox.
type fraudEnv struct {
	*testEnv
	db           *sqlite.DB
	hooks        *checkout.Webhooks
	cbs          *checkout.Chargebacks
	processorKey string // the card processor's secret key, for chargebacks
}

func mustFraudEnv(tb testing.TB) *fraudEnv {
	tb.Helper()
	env := MustEnv(tb)
	db, ok := env.svc.Store.(*sqlite.DB)
	if !ok {
		tb.Fatalf("store is %T", env.svc.Store)
	}
	f := &fraudEnv{testEnv: env, db: db, processorKey: "proc_sk_" + checkout.NewID("test")}
	processorHash := sha256.Sum256([]byte(f.processorKey))
	f.hooks = &checkout.Webhooks{Store: db, Keys: env.vault, Now: env.svc.Now}
	f.cbs = &checkout.Chargebacks{Store: db, Now: env.svc.Now}
	env.svc.Notifier = f.hooks
	log := slog.New(slog.NewTextHandler(lockedWriter{env.logMu, env.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.h = New(Options{Service: env.svc, Keys: env.vault, BaseURL: testBase, HSTS: true, Log: log, Risk: env.risk,
		Webhooks: f.hooks, Chargebacks: f.cbs, ProcessorKeyHash: processorHash[:]})
	return f
}

// call sends a merchant API call with key and decodes the JSON answer.
func (e *fraudEnv) call(tb testing.TB, key, method, target, body string) (int, map[string]any) {
	tb.Helper()
	headers := []string{"Authorization", "Bearer " + key}
	if body != "" {
		headers = append(headers, "Content-Type", "application/json")
	}
	w := e.do(method, target, body, headers...)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		tb.Fatalf("%s %s: %d, not a JSON object: %s", method, target, w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		tb.Errorf("%s %s: Cache-Control %q", method, target, w.Header().Get("Cache-Control"))
	}
	return w.Code, m
}

// wantError fails unless the answer is the error code (and field).
func wantError(tb testing.TB, status int, m map[string]any, wantStatus int, code, field string) {
	tb.Helper()
	e, _ := m["error"].(map[string]any)
	if status != wantStatus || e["code"] != code || (field != "" && e["field"] != field) {
		tb.Fatalf("answer %d %v; want %d %s (field %q)", status, m, wantStatus, code, field)
	}
}

// paid creates and pays a session with the test card and returns the
// payment's id.
func (e *fraudEnv) paid(tb testing.TB) string {
	tb.Helper()
	id := e.MustSession(tb, "en")
	if w := e.pay(id, "number=4242+4242+4242+4242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"); w.Code != http.StatusOK {
		tb.Fatalf("pay: %d %s", w.Code, w.Body)
	}
	_, s := e.call(tb, e.key, "GET", "/v1/sessions/"+id, "")
	p, _ := s["payment"].(map[string]any)
	pid, _ := p["id"].(string)
	if pid == "" {
		tb.Fatalf("session after paying: %v", s)
	}
	return pid
}

func TestWebhookEndpointsAPI(t *testing.T) {
	e := mustFraudEnv(t)
	status, m := e.call(t, e.key, "POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/checkout?src=1","events":["chargeback.created","payment.authorized"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, m)
	}
	id, _ := m["id"].(string)
	secret, _ := m["secret"].(string)
	if !strings.HasPrefix(id, "we_") || !strings.HasPrefix(secret, "whsec_") || m["object"] != "webhook_endpoint" ||
		m["url"] != "https://hooks.shop.example/checkout?src=1" || showJSON(m["events"]) != `["payment.authorized","chargeback.created"]` {
		t.Fatalf("created: %v", m)
	}
	if got := checkout.WebhookSecret(e.vault, e.merchant.ID, id); got != secret {
		t.Fatal("the secret shown is not the one deliveries are signed with")
	}

	// Listed without the secret, which is shown only once.
	status, m = e.call(t, e.key, "GET", "/v1/webhooks", "")
	list, _ := m["data"].([]any)
	if status != 200 || m["object"] != "list" || len(list) != 1 {
		t.Fatalf("list: %d %v", status, m)
	}
	if first := list[0].(map[string]any); first["id"] != id || first["secret"] != nil {
		t.Fatalf("listed endpoint: %v", first)
	}
	if strings.Contains(e.logText(), secret) {
		t.Fatal("the secret was logged")
	}

	// Another merchant sees none of it and cannot delete it.
	if _, m := e.call(t, e.otherKey, "GET", "/v1/webhooks", ""); len(m["data"].([]any)) != 0 {
		t.Fatalf("another merchant's list: %v", m)
	}
	status, m = e.call(t, e.otherKey, "DELETE", "/v1/webhooks/"+id, "")
	wantError(t, status, m, 404, "not_found", "")

	status, m = e.call(t, e.key, "DELETE", "/v1/webhooks/"+id, "")
	if status != 200 || m["deleted"] != true {
		t.Fatalf("delete: %d %v", status, m)
	}
	status, m = e.call(t, e.key, "DELETE", "/v1/webhooks/"+id, "")
	wantError(t, status, m, 404, "not_found", "")
	if _, m := e.call(t, e.key, "GET", "/v1/webhooks", ""); len(m["data"].([]any)) != 0 {
		t.Fatalf("after delete: %v", m)
	}
}

func TestWebhookEndpointValidation(t *testing.T) {
	e := mustFraudEnv(t)
	tests := []struct {
		name, body, field string
	}{
		{"plain http", `{"url":"http://hooks.shop.example/","events":["payment.authorized"]}`, "url"},
		{"loopback (the operator has not allowed it)", `{"url":"http://127.0.0.1:9000/","events":["payment.authorized"]}`, "url"},
		{"localhost", `{"url":"https://localhost/","events":["payment.authorized"]}`, "url"},
		{"cloud metadata", `{"url":"https://169.254.169.254/latest/meta-data/","events":["payment.authorized"]}`, "url"},
		{"private network", `{"url":"https://10.0.0.5/hook","events":["payment.authorized"]}`, "url"},
		{"user info", `{"url":"https://shop.example@evil.example/","events":["payment.authorized"]}`, "url"},
		{"no url", `{"events":["payment.authorized"]}`, "url"},
		{"no events", `{"url":"https://hooks.shop.example/"}`, "events"},
		{"empty events", `{"url":"https://hooks.shop.example/","events":[]}`, "events"},
		{"unknown event", `{"url":"https://hooks.shop.example/","events":["payment.refunded"]}`, "events"},
		{"events not a list", `{"url":"https://hooks.shop.example/","events":"payment.authorized"}`, "events"},
		{"unknown field", `{"url":"https://hooks.shop.example/","events":["payment.authorized"],"secret":"mine"}`, "secret"},
		{"not an object", `["https://hooks.shop.example/"]`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.call(t, e.key, "POST", "/v1/webhooks", tc.body)
			wantError(t, status, m, 400, "invalid", tc.field)
		})
	}
	w := e.do("POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/","events":["payment.authorized"]}`,
		"Authorization", "Bearer "+e.key, "Content-Type", "text/plain")
	if w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", w.Code)
	}
	for range checkout.MaxWebhookEndpoints {
		if status, m := e.call(t, e.key, "POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/","events":["payment.voided"]}`); status != 201 {
			t.Fatalf("create: %d %v", status, m)
		}
	}
	status, m := e.call(t, e.key, "POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/","events":["payment.voided"]}`)
	wantError(t, status, m, 409, "conflict", "")
}

func TestWebhookRoutesNeedAKey(t *testing.T) {
	e := mustFraudEnv(t)
	for _, r := range []struct{ method, target string }{
		{"POST", "/v1/webhooks"}, {"GET", "/v1/webhooks"}, {"DELETE", "/v1/webhooks/we_x"}, {"GET", "/v1/webhooks/deliveries"},
		{"POST", "/v1/processor/payments/pay_x/chargebacks"}, {"GET", "/v1/chargebacks"}, {"GET", "/v1/chargebacks/cb_x"},
		{"GET", "/v1/guarantee"},
	} {
		w := e.do(r.method, r.target, `{}`, "Content-Type", "application/json")
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d", r.method, r.target, w.Code)
		}
	}
}

// A payment records payment.authorized in the outbox; the delivery log
// shows it, then each attempt as the dispatcher logs it.
func TestDeliveryLogAPI(t *testing.T) {
	e := mustFraudEnv(t)
	_, ep := e.call(t, e.key, "POST", "/v1/webhooks", `{"url":"https://hooks.shop.example/checkout","events":["payment.authorized"]}`)
	payment := e.paid(t)

	status, m := e.call(t, e.key, "GET", "/v1/webhooks/deliveries?event=payment.authorized", "")
	data, _ := m["data"].([]any)
	if status != 200 || len(data) != 1 {
		t.Fatalf("deliveries: %d %v", status, m)
	}
	d := data[0].(map[string]any)
	eventID, _ := d["event_id"].(string)
	if d["status"] != "pending" || d["endpoint_id"] != ep["id"] || d["url"] != "https://hooks.shop.example/checkout" ||
		d["next_attempt_at"] == nil || d["completed_at"] != nil || len(d["attempts"].([]any)) != 0 || !strings.HasPrefix(eventID, "evt_") {
		t.Fatalf("pending delivery: %v", d)
	}

	// The dispatcher's first attempt fails with 500; the log shows it and
	// when the next one is due.
	now := *e.clock.Load()
	jobs, err := e.db.ClaimWebhookDeliveries(t.Context(), now.Add(time.Second), now.Add(time.Minute), 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	if !strings.Contains(string(jobs[0].Payload), payment) || strings.Contains(string(jobs[0].Payload), "4242424242424242") {
		t.Fatalf("payload: %s", jobs[0].Payload)
	}
	o := checkout.WebhookOutcome{
		Attempt: checkout.DeliveryAttempt{N: 1, At: now.Add(time.Second), StatusCode: 500, Latency: 120 * time.Millisecond, Error: "HTTP 500"},
		Status:  checkout.DeliveryPending, NextAttemptAt: now.Add(time.Minute),
	}
	if err := e.db.FinishWebhookAttempt(t.Context(), jobs[0], o); err != nil {
		t.Fatal(err)
	}
	_, m = e.call(t, e.key, "GET", "/v1/webhooks/deliveries?event="+eventID, "")
	d = m["data"].([]any)[0].(map[string]any)
	attempts := d["attempts"].([]any)
	a := attempts[0].(map[string]any)
	if len(attempts) != 1 || a["attempt"] != 1.0 || a["status_code"] != 500.0 || a["latency_ms"] != 120.0 || a["error"] != "HTTP 500" ||
		d["next_attempt_at"] != timeJSON(now.Add(time.Minute)) {
		t.Fatalf("after an attempt: %v", d)
	}

	for target, n := range map[string]int{
		"/v1/webhooks/deliveries":                               1,
		"/v1/webhooks/deliveries?event=payment.voided":          0,
		"/v1/webhooks/deliveries?event=evt_nope":                0,
		"/v1/webhooks/deliveries?endpoint=" + ep["id"].(string): 1,
		"/v1/webhooks/deliveries?limit=1":                       1,
	} {
		if _, m := e.call(t, e.key, "GET", target, ""); len(m["data"].([]any)) != n {
			t.Errorf("%s: %v; want %d", target, m, n)
		}
	}
	if _, m := e.call(t, e.otherKey, "GET", "/v1/webhooks/deliveries?event="+eventID, ""); len(m["data"].([]any)) != 0 {
		t.Fatalf("another merchant's log: %v", m)
	}
	for target, field := range map[string]string{
		"/v1/webhooks/deliveries?limit=0":                "limit",
		"/v1/webhooks/deliveries?limit=101":              "limit",
		"/v1/webhooks/deliveries?limit=x":                "limit",
		"/v1/webhooks/deliveries?event=payment.refunded": "event",
	} {
		status, m := e.call(t, e.key, "GET", target, "")
		wantError(t, status, m, 400, "invalid", field)
	}
}

func showJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
