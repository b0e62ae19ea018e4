package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestAPIAuth(t *testing.T) {
	env := MustEnv(t)
	for _, tc := range []struct{ name, header string }{
		{"missing", ""},
		{"wrong key", "Bearer sk_test_nope"},
		{"wrong scheme", "Basic " + env.key},
		{"no token", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []string{"/v1/sessions/cs_x", "/v1/payments/pay_x"} {
				w := env.do("GET", target, "", "Authorization", tc.header)
				if w.Code != 401 || decodeError(t, w).Code != "unauthorized" || w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: %d %s", target, w.Code, w.Body)
				}
			}
			w := env.do("POST", "/v1/sessions", `{}`, "Authorization", tc.header, "Content-Type", "application/json")
			if w.Code != 401 {
				t.Errorf("POST: %d", w.Code)
			}
		})
	}
}

func TestCreateSession(t *testing.T) {
	env := MustEnv(t)
	valid := strings.Replace(sessionBody, "%s", "auto", 1)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code, field string
		message     string // substring
	}{
		{"created", "application/json", valid, 201, "", "", ""},
		{"charset allowed", "application/json; charset=utf-8", valid, 201, "", "", ""},
		{"text/plain", "text/plain", valid, 415, "unsupported_media_type", "", ""},
		{"no content type", "", valid, 415, "unsupported_media_type", "", ""},
		{"form", "application/x-www-form-urlencoded", "amount=1", 415, "unsupported_media_type", "", ""},
		{"too large", "application/json", `{"order_id":"` + strings.Repeat("a", 17<<10) + `"}`, 413, "too_large", "", "16 KiB"},
		{"unknown field", "application/json", `{"amount":1500,"price":1}`, 400, "invalid", "price", "unknown field"},
		{"unknown nested field", "application/json", `{"shipping_address":{"line1":"x","evil":1}}`, 400, "invalid", "evil", ""},
		{"wrong type", "application/json", `{"amount":"1500"}`, 400, "invalid", "amount", "integer"},
		{"fraction", "application/json", `{"amount":15.5}`, 400, "invalid", "amount", ""},
		{"wrong nested type", "application/json", `{"shipping_address":{"country":81}}`, 400, "invalid", "shipping_address.country", "string"},
		{"two objects", "application/json", valid + valid, 400, "invalid", "", "exactly one"},
		// Issue 9: encoding/json matches keys without case and keeps the
		// last of repeated keys; the API refuses both.
		{"case-variant key", "application/json", `{"AMOUNT":7,"currency":"JPY","order_id":"o","success_url":"https://shop.example/done"}`, 400, "invalid", "AMOUNT", `case-sensitive: "amount"`},
		{"case-variant nested key", "application/json", strings.Replace(valid, `"amount"`, `"shipping_address":{"Country":"JP"},"amount"`, 1), 400, "invalid", "shipping_address.Country", "case-sensitive"},
		{"duplicate key", "application/json", strings.Replace(valid, `"amount":1500`, `"amount":1500,"amount":7`, 1), 400, "invalid", "amount", "appears twice"},
		{"duplicate nested key", "application/json", strings.Replace(valid, `"amount"`, `"shipping_address":{"country":"JP","country":"US"},"amount"`, 1), 400, "invalid", "shipping_address.country", "appears twice"},
		{"trailing garbage", "application/json", valid + "x", 400, "invalid", "", ""},
		{"array", "application/json", `[` + valid + `]`, 400, "invalid", "", "object"},
		{"null", "application/json", `null`, 400, "invalid", "", "object"},
		{"empty", "application/json", ``, 400, "invalid", "", ""},
		{"syntax", "application/json", `{"amount":`, 400, "invalid", "", ""},
		{"return url off origin", "application/json", strings.Replace(valid, "https://shop.example/done", "https://evil.example/done", 1),
			400, "invalid", "success_url", "success_url must be on one of your registered origins"},
		{"return url userinfo", "application/json", strings.Replace(valid, "https://shop.example/done", "https://shop.example@evil.example/", 1),
			400, "invalid", "success_url", "user info"},
		{"cancel url http", "application/json", strings.Replace(valid, "https://shop.example/cart", "http://shop.example/cart", 1),
			400, "invalid", "cancel_url", "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := env.do("POST", "/v1/sessions", tc.body, "Authorization", "Bearer "+env.key, "Content-Type", tc.contentType)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if w.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				t.Errorf("headers: %v", w.Header())
			}
			if tc.status == 201 {
				var s map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
					t.Fatal(err)
				}
				id, _ := s["id"].(string)
				want := map[string]any{"object": "checkout_session", "status": "open", "amount": 1500.0, "currency": "JPY",
					"order_id": "order-1001", "url": testBase + "/pay/" + id, "payment": nil, "risk": nil, "three_ds": nil, "payment_methods": nil, "customer": nil, "save_card": nil}
				for k, v := range want {
					if s[k] != v {
						t.Errorf("%s = %#v, want %#v", k, s[k], v)
					}
				}
				if exp, _ := s["expires_at"].(string); !strings.HasSuffix(exp, "Z") || len(exp) != len("2026-11-21T15:30:00Z") {
					t.Errorf("expires_at %q", exp)
				}
				if _, ok := s["three_ds"]; len(s) != 17 || !ok {
					t.Errorf("session has %d fields, docs/API.md shows 17: %v", len(s), s)
				}
				return
			}
			e := decodeError(t, w)
			if e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.message) {
				t.Errorf("error %+v, want code %q field %q message ~%q", e, tc.code, tc.field, tc.message)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	env := MustEnv(t)
	body := strings.Replace(sessionBody, "%s", "en", 1)
	post := func(key, body string) (int, map[string]any, http.Header) {
		w := env.do("POST", "/v1/sessions", body, "Authorization", "Bearer "+env.key,
			"Content-Type", "application/json", "Idempotency-Key", key)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m, w.Header()
	}
	code1, first, _ := post("order-1001-try", body)
	code2, again, h := post("order-1001-try", body)
	if code1 != 201 || code2 != 201 || first["id"] != again["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d %v %v %v", code1, code2, first["id"], again["id"], h)
	}
	code3, mismatch, _ := post("order-1001-try", strings.Replace(body, "1500", "1600", 1))
	if code3 != 422 || mismatch["error"].(map[string]any)["code"] != "idempotency_mismatch" {
		t.Errorf("mismatch: %d %v", code3, mismatch)
	}
	code4, other, _ := post("another-key", body)
	if code4 != 201 || other["id"] == first["id"] {
		t.Errorf("new key: %d %v", code4, other["id"])
	}
	// Present but empty, or not printable ASCII: refused.
	if code, _, _ := post("", body); code != 400 {
		t.Errorf("empty key: %d", code)
	}
	if code, _, _ := post("キー", body); code != 400 {
		t.Errorf("non-ASCII key: %d", code)
	}
}

func TestGetSessionAndPayment(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	get := func(key, target string) (int, map[string]any) {
		w := env.do("GET", target, "", "Authorization", "Bearer "+key)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	if code, s := get(env.key, "/v1/sessions/"+id); code != 200 || s["status"] != "open" || s["payment"] != nil {
		t.Fatalf("own session: %d %v", code, s)
	}
	if code, s := get(env.otherKey, "/v1/sessions/"+id); code != 404 || s["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("other merchant's session: %d %v", code, s)
	}
	if code, _ := get(env.key, "/v1/sessions/cs_nonexistent"); code != 404 {
		t.Errorf("missing session: %d", code)
	}

	if w := env.pay(id, "number=4242+4242+4242+4242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"); w.Code != 200 {
		t.Fatalf("pay: %d %s", w.Code, w.Body)
	}
	code, s := get(env.key, "/v1/sessions/"+id)
	if code != 200 || s["status"] != "paid" || s["payment"] == nil {
		t.Fatalf("paid session: %d %v", code, s)
	}
	p := s["payment"].(map[string]any)
	payID := p["id"].(string)
	code, p2 := get(env.key, "/v1/payments/"+payID)
	if code != 200 || p2["object"] != "payment" || p2["session_id"] != id || p2["status"] != "succeeded" || p2["cvc_check"] != "pass" {
		t.Fatalf("payment: %d %v", code, p2)
	}
	card := p2["card"].(map[string]any)
	if len(card) != 6 || card["brand"] != "visa" || card["last4"] != "4242" || card["exp_month"] != 12.0 || card["exp_year"] != 2040.0 {
		t.Errorf("card: %v", card)
	}
	for _, k := range []string{"token", "fingerprint"} {
		if s, _ := card[k].(string); s == "" {
			t.Errorf("card.%s empty", k)
		}
	}
	if code, _ := get(env.otherKey, "/v1/payments/"+payID); code != 404 {
		t.Errorf("other merchant's payment: %d", code)
	}
}

// FuzzDecodeSessionRequest: untrusted JSON never panics, and every refusal
// is an invalid *checkout.Error.
func FuzzDecodeSessionRequest(f *testing.F) {
	for _, s := range []string{
		strings.Replace(sessionBody, "%s", "auto", 1),
		`{"amount":1,"shipping_address":{"name":"山田 太郎","line1":"1-2-3","country":"JP"}}`,
		`{"amount":"1"}`, `{"x":1}`, `{} {}`, `[]`, `null`, ``, `{"amount":1e400}`, "{\"order_id\":\"\xff\"}",
		`{"shipping_address":null}`, `{"amount":-1}`, `{"payment_methods":{"types":["installments"],"installment_counts":[3,6]}}`,
		`{"payment_methods":null}`, `{"payment_methods":{"types":"installments"}}`, `  {"amount":1}  `, `{"AMOUNT":7}`, `{"amount":1,"amount":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSessionRequest(body)
		if err != nil {
			var e *checkout.Error
			if !errors.As(err, &e) || e.Code != checkout.EINVALID || e.Message == "" {
				t.Fatalf("error %v is not an invalid *checkout.Error", err)
			}
			return
		}
		// Accepted: each top-level key is a field's exact name.
		var keys map[string]json.RawMessage
		if json.Unmarshal(body, &keys) == nil {
			for k := range keys {
				if _, ok := jsonFields(reflect.TypeFor[checkout.SessionRequest]())[k]; !ok {
					t.Fatalf("accepted key %q, which is no field's exact name", k)
				}
			}
		}
		// Accepted: it must be one object that encoding/json also reads.
		var again checkout.SessionRequest
		if err := json.Unmarshal(body, &again); err != nil {
			t.Fatalf("accepted a body json.Unmarshal refuses: %v", err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("decoded %+v, json.Unmarshal %+v", req, again)
		}
	})
}
