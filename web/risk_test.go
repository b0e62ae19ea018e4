package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// api sends a merchant API call with the given key and decodes the answer.
func (e *testEnv) api(tb testing.TB, key, method, target, body string) (*httptest.ResponseRecorder, map[string]any) {
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
	return w, m
}

func errorOf(m map[string]any) (code, field string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func TestRiskEndpointsNeedAKey(t *testing.T) {
	env := MustEnv(t)
	for _, r := range []struct{ method, target string }{
		{"GET", "/v1/risk/settings"}, {"PUT", "/v1/risk/settings"}, {"GET", "/v1/risk/lists"},
		{"POST", "/v1/risk/lists"}, {"DELETE", "/v1/risk/lists/ip/203.0.113.7"}, {"GET", "/v1/risk/audit"},
		{"POST", "/v1/payments/pay_x/capture"}, {"POST", "/v1/payments/pay_x/void"},
	} {
		for _, auth := range []string{"", "Bearer sk_test_nope"} {
			w := env.do(r.method, r.target, `{}`, "Authorization", auth, "Content-Type", "application/json")
			if w.Code != 401 || decodeError(t, w).Code != "unauthorized" {
				t.Errorf("%s %s with %q: %d %s", r.method, r.target, auth, w.Code, w.Body)
			}
		}
	}
}

func TestRiskSettingsAPI(t *testing.T) {
	env := MustEnv(t)
	w, got := env.api(t, env.key, "GET", "/v1/risk/settings", "")
	if w.Code != 200 || got["review_score"] != 40.0 || got["ng_score"] != 80.0 {
		t.Fatalf("defaults: %d %v", w.Code, got)
	}
	if v := got["cards_per_ip"].(map[string]any); v["window"] != "1h" || v["max"] != 3.0 {
		t.Fatalf("cards_per_ip default %v", v)
	}

	// Fields left out take their defaults; nested ones too.
	w, got = env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":30,"ng_score":70,"cards_per_ip":{"max":2},"blocklist":{"ip":"REVIEW"}}`)
	if w.Code != 200 || got["review_score"] != 30.0 {
		t.Fatalf("PUT: %d %v", w.Code, got)
	}
	_, got = env.api(t, env.key, "GET", "/v1/risk/settings", "")
	ip := got["cards_per_ip"].(map[string]any)
	if got["ng_score"] != 70.0 || ip["max"] != 2.0 || ip["window"] != "1h" || ip["score"] != 60.0 ||
		got["blocklist"].(map[string]any)["ip"] != "REVIEW" || got["blocklist"].(map[string]any)["card"] != "NG" {
		t.Fatalf("after PUT: %v", got)
	}
	// Another merchant still has the defaults.
	if _, other := env.api(t, env.otherKey, "GET", "/v1/risk/settings", ""); other["review_score"] != 40.0 {
		t.Fatalf("other merchant's settings changed: %v", other)
	}

	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code, field             string
	}{
		{"ng not above review", "application/json", `{"review_score":50,"ng_score":50}`, 400, "invalid", "ng_score"},
		{"window too short", "application/json", `{"card_attempts":{"max":3,"window":"5s","score":10}}`, 400, "invalid", "card_attempts.window"},
		{"negative score", "application/json", `{"disposable_email":-5}`, 400, "invalid", "disposable_email"},
		{"unknown currency", "application/json", `{"amounts":{"XYZ":{"review_above":1}}}`, 400, "invalid", "amounts.XYZ"},
		{"bad verdict", "application/json", `{"blocklist":{"email":"OK"}}`, 400, "invalid", "blocklist.email"},
		{"unknown field", "application/json", `{"review_score":40,"allow_all":true}`, 400, "invalid", "allow_all"},
		{"unknown nested field", "application/json", `{"cvc":{"mismatch":0}}`, 400, "invalid", "mismatch"},
		{"wrong type", "application/json", `{"review_score":"40"}`, 400, "invalid", "review_score"},
		{"bad duration", "application/json", `{"cards_per_ip":{"window":"soon"}}`, 400, "invalid", ""},
		{"not an object", "application/json", `[]`, 400, "invalid", ""},
		{"two objects", "application/json", `{} {}`, 400, "invalid", ""},
		{"form", "application/x-www-form-urlencoded", `review_score=1`, 415, "unsupported_media_type", ""},
		{"too large", "application/json", `{"x":"` + strings.Repeat("a", 17<<10) + `"}`, 413, "too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := env.do("PUT", "/v1/risk/settings", tc.body, "Authorization", "Bearer "+env.key, "Content-Type", tc.contentType)
			e := decodeError(t, w)
			if w.Code != tc.status || e.Code != tc.code || e.Field != tc.field || e.Message == "" {
				t.Fatalf("%d %+v; want %d %s field %q", w.Code, e, tc.status, tc.code, tc.field)
			}
		})
	}
	// None of the refused bodies changed anything.
	if _, got := env.api(t, env.key, "GET", "/v1/risk/settings", ""); got["review_score"] != 30.0 {
		t.Fatalf("a refused PUT changed the settings: %v", got)
	}
}

func TestRiskListsAPI(t *testing.T) {
	env := MustEnv(t)
	post := func(key, body string) (int, map[string]any) {
		w, m := env.api(t, key, "POST", "/v1/risk/lists", body)
		return w.Code, m
	}
	code, e := post(env.key, `{"kind":"ip","value":"203.0.113.7"}`)
	if code != 201 || e["object"] != "list_entry" || e["kind"] != "ip" || e["value"] != "203.0.113.7/32" || e["created_at"] == "" {
		t.Fatalf("add: %d %v", code, e)
	}
	if code, e := post(env.key, `{"kind":"ip","value":" 203.0.113.7/32 "}`); code != 200 || e["value"] != "203.0.113.7/32" {
		t.Fatalf("add again: %d %v; want 200 with the entry", code, e)
	}
	// Japanese addresses are normalised: full-width digits, 丁目/番/号.
	code, addr := post(env.key, `{"kind":"address","value":"JP|150-0002|東京都渋谷区渋谷一丁目２番３号"}`)
	if code != 201 {
		t.Fatalf("add address: %d %v", code, addr)
	}
	if code, again := post(env.key, `{"kind":"address","value":"JP|1500002|渋谷1-2-3"}`); code != 200 || again["value"] != addr["value"] {
		t.Fatalf("the same address spelled another way: %d %v; want the entry %v", code, again, addr["value"])
	}
	post(env.key, `{"kind":"ip","value":"2001:db8:1::/48"}`)
	post(env.key, `{"kind":"bin","value":"4242"}`)
	post(env.otherKey, `{"kind":"email","value":"taro@example.jp"}`)

	for _, tc := range []struct{ body, field string }{
		{`{"kind":"phone","value":"0312345678"}`, "kind"},
		{`{"kind":"ip","value":"not an ip"}`, "value"},
		{`{"kind":"bin","value":"4"}`, "value"},
		{`{"kind":"email","value":""}`, "value"},
		{`{"kind":"ip","value":"203.0.113.7","note":"x"}`, "note"},
	} {
		code, m := post(env.key, tc.body)
		if c, f := errorOf(m); code != 400 || c != "invalid" || f != tc.field {
			t.Errorf("POST %s: %d %v; want invalid %s", tc.body, code, m, tc.field)
		}
	}

	_, page := env.api(t, env.key, "GET", "/v1/risk/lists", "")
	data := page["data"].([]any)
	if page["object"] != "list" || len(data) != 4 || page["next"] != nil {
		t.Fatalf("list: %v", page)
	}
	if first := data[0].(map[string]any); first["kind"] != "address" {
		t.Fatalf("first entry %v; want by kind then value", first)
	}
	_, ips := env.api(t, env.key, "GET", "/v1/risk/lists?kind=ip", "")
	if n := len(ips["data"].([]any)); n != 2 {
		t.Fatalf("ip entries: %v", ips)
	}
	// Paged one at a time, every entry exactly once.
	seen, after := 0, ""
	for range 10 {
		_, p := env.api(t, env.key, "GET", "/v1/risk/lists?limit=1&after="+url.QueryEscape(after), "")
		seen += len(p["data"].([]any))
		next, _ := p["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if seen != 4 {
		t.Fatalf("paging saw %d entries; want 4", seen)
	}
	for _, q := range []string{"kind=phone", "limit=0", "limit=x", "limit=1001", "after=!!"} {
		w, m := env.api(t, env.key, "GET", "/v1/risk/lists?"+q, "")
		if c, _ := errorOf(m); w.Code != 400 || c != "invalid" {
			t.Errorf("GET ?%s: %d %v", q, w.Code, m)
		}
	}
	// Another merchant sees only its own.
	if _, other := env.api(t, env.otherKey, "GET", "/v1/risk/lists", ""); len(other["data"].([]any)) != 1 {
		t.Fatalf("other merchant's list: %v", other)
	}

	// Delete: the value normalised as on adding; a prefix with its slash
	// as is or percent-encoded; the address in Japanese, percent-encoded.
	for _, target := range []string{
		"/v1/risk/lists/ip/203.0.113.7",
		"/v1/risk/lists/ip/2001:db8:1::%2F48",
		"/v1/risk/lists/address/" + url.PathEscape("JP|150-0002|渋谷１－２－３"),
	} {
		w, m := env.api(t, env.key, "DELETE", target, "")
		if w.Code != 200 || m["deleted"] != true {
			t.Errorf("DELETE %s: %d %v", target, w.Code, m)
		}
	}
	if w, m := env.api(t, env.key, "DELETE", "/v1/risk/lists/ip/203.0.113.7", ""); w.Code != 404 {
		t.Errorf("DELETE twice: %d %v", w.Code, m)
	}
	if w, _ := env.api(t, env.otherKey, "DELETE", "/v1/risk/lists/bin/4242", ""); w.Code != 404 {
		t.Errorf("another merchant deleted an entry: %d", w.Code)
	}
	if w, m := env.api(t, env.key, "DELETE", "/v1/risk/lists/phone/123", ""); w.Code != 400 {
		t.Errorf("DELETE of an unknown kind: %d %v", w.Code, m)
	}
	if _, page := env.api(t, env.key, "GET", "/v1/risk/lists", ""); len(page["data"].([]any)) != 1 {
		t.Fatalf("after deletes: %v", page)
	}
}

func TestRiskAuditAPI(t *testing.T) {
	env := MustEnv(t)
	env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":35}`)
	env.api(t, env.key, "POST", "/v1/risk/lists", `{"kind":"email","value":"Fraud+x@Example.COM"}`)
	env.api(t, env.key, "POST", "/v1/risk/lists", `{"kind":"email","value":"fraud@example.com"}`) // the same entry: no change
	env.api(t, env.key, "DELETE", "/v1/risk/lists/email/fraud@example.com", "")
	env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":36}`)
	env.api(t, env.key, "PUT", "/v1/risk/settings", `{"review_score":99999}`) // refused: no change

	_, page := env.api(t, env.key, "GET", "/v1/risk/audit", "")
	data := page["data"].([]any)
	if len(data) != 4 {
		t.Fatalf("audit has %d entries; want 4: %v", len(data), page)
	}
	actions := []string{}
	for _, d := range data {
		e := d.(map[string]any)
		actions = append(actions, e["action"].(string))
		actor := e["actor"].(string)
		if !strings.HasPrefix(actor, env.merchant.ID+"/key_") || strings.Contains(actor, env.key) || strings.Contains(actor, env.key[len(env.key)-12:]) {
			t.Errorf("actor %q: want the merchant and a key fingerprint, never the key", actor)
		}
		if e["object"] != "audit_entry" || !strings.HasPrefix(e["id"].(string), "aud_") || e["created_at"] == "" {
			t.Errorf("entry %v", e)
		}
	}
	if want := "risk.settings.update,risk.list.remove,risk.list.add,risk.settings.update"; strings.Join(actions, ",") != want {
		t.Fatalf("actions %v; want newest first %s", actions, want)
	}
	newest, oldest := data[0].(map[string]any), data[3].(map[string]any)
	if newest["before"].(map[string]any)["review_score"] != 35.0 || newest["after"].(map[string]any)["review_score"] != 36.0 {
		t.Errorf("settings update before/after: %v / %v", newest["before"], newest["after"])
	}
	if oldest["before"] != nil {
		t.Errorf("first settings update: before %v; want null (the defaults were in force)", oldest["before"])
	}
	add, remove := data[2].(map[string]any), data[1].(map[string]any)
	if a := add["after"].(map[string]any); add["before"] != nil || a["kind"] != "email" || a["value"] != "fraud@example.com" {
		t.Errorf("list add: %v", add)
	}
	if b := remove["before"].(map[string]any); remove["after"] != nil || b["value"] != "fraud@example.com" {
		t.Errorf("list remove: %v", remove)
	}

	// Paging, and another merchant's log.
	_, first := env.api(t, env.key, "GET", "/v1/risk/audit?limit=3", "")
	next, _ := first["next"].(string)
	_, rest := env.api(t, env.key, "GET", "/v1/risk/audit?limit=3&before="+next, "")
	if len(first["data"].([]any)) != 3 || len(rest["data"].([]any)) != 1 || rest["next"] != nil {
		t.Fatalf("pages: %v / %v", first, rest)
	}
	if _, other := env.api(t, env.otherKey, "GET", "/v1/risk/audit", ""); len(other["data"].([]any)) != 0 {
		t.Fatalf("other merchant's audit: %v", other)
	}
	if w, _ := env.api(t, env.otherKey, "GET", "/v1/risk/audit?before="+next, ""); w.Code != 404 {
		t.Fatalf("another merchant's cursor: %d; want 404", w.Code)
	}
}

// A payment screened REVIEW is held; the merchant captures or voids it.
func TestCaptureAndVoidAPI(t *testing.T) {
	env := MustEnv(t)
	env.api(t, env.key, "PUT", "/v1/risk/settings", `{"amounts":{"JPY":{"review_above":1000,"ng_above":100000}}}`)
	held := func() string {
		t.Helper()
		id := env.MustSession(t, "en")
		if w := env.pay(id, "number=4242+4242+4242+4242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"); w.Code != 200 {
			t.Fatalf("pay: %d %s", w.Code, w.Body)
		}
		_, s := env.api(t, env.key, "GET", "/v1/sessions/"+id, "")
		p := s["payment"].(map[string]any)
		risk := s["risk"].(map[string]any)
		if p["status"] != "held" || risk["verdict"] != "REVIEW" || p["risk"].(map[string]any)["verdict"] != "REVIEW" {
			t.Fatalf("session %v; want a held payment screened REVIEW", s)
		}
		if until, _ := p["authorized_until"].(string); p["amount_captured"] != 0.0 || len(until) != len("2026-11-21T15:30:00Z") {
			t.Fatalf("held payment %v; want nothing captured, and until when it may be", p)
		}
		reasons := risk["reasons"].([]any)
		if len(reasons) != 1 || reasons[0].(map[string]any)["rule"] != "amount.review" {
			t.Fatalf("reasons %v", reasons)
		}
		return p["id"].(string)
	}

	id := held()
	for body, field := range map[string]string{`{"amount":0}`: "amount", `{"amount":1501}`: "amount", `{"amount":"1000"}`: "amount", `{"amount":1000,"x":1}`: "x"} {
		if w, m := env.api(t, env.key, "POST", "/v1/payments/"+id+"/capture", body); w.Code != 400 || m["error"].(map[string]any)["field"] != field {
			t.Fatalf("capture with %s: %d %v; want 400 on %s", body, w.Code, m, field)
		}
	}
	w, p := env.api(t, env.key, "POST", "/v1/payments/"+id+"/capture", `{"amount":1200}`)
	if w.Code != 200 || p["status"] != "captured" || p["object"] != "payment" || p["risk"] == nil || p["amount_captured"] != 1200.0 || p["authorized_until"] != nil {
		t.Fatalf("capture: %d %v", w.Code, p)
	}
	if w, p := env.api(t, env.key, "POST", "/v1/payments/"+id+"/capture", `{}`); w.Code != 200 || p["status"] != "captured" || p["amount_captured"] != 1200.0 {
		t.Fatalf("capture again: %d %v", w.Code, p)
	}
	if w, m := env.api(t, env.key, "POST", "/v1/payments/"+id+"/capture", `{"amount":1000}`); w.Code != 409 {
		t.Fatalf("capture again for another amount: %d %v", w.Code, m)
	}
	if w, m := env.api(t, env.key, "POST", "/v1/payments/"+id+"/void", ""); w.Code != 409 {
		t.Fatalf("void of a captured payment: %d %v", w.Code, m)
	}
	if w, p := env.api(t, env.key, "GET", "/v1/payments/"+id, ""); w.Code != 200 || p["status"] != "captured" {
		t.Fatalf("GET: %d %v", w.Code, p)
	}

	id2 := held()
	if w, m := env.api(t, env.otherKey, "POST", "/v1/payments/"+id2+"/void", ""); w.Code != 404 {
		t.Fatalf("another merchant's void: %d %v", w.Code, m)
	}
	if w, m := env.api(t, env.key, "POST", "/v1/payments/"+id2+"/void", `{"reason":"fraud"}`); w.Code != 400 {
		t.Fatalf("void with an unknown field: %d %v", w.Code, m)
	}
	w = env.do("POST", "/v1/payments/"+id2+"/void", "reason=x", "Authorization", "Bearer "+env.key, "Content-Type", "text/plain")
	if w.Code != 415 {
		t.Fatalf("void with a text body: %d %s", w.Code, w.Body)
	}
	if w, p := env.api(t, env.key, "POST", "/v1/payments/"+id2+"/void", ""); w.Code != 200 || p["status"] != "voided" {
		t.Fatalf("void: %d %v", w.Code, p)
	}
	if w, p := env.api(t, env.key, "POST", "/v1/payments/"+id2+"/void", ""); w.Code != 200 || p["status"] != "voided" {
		t.Fatalf("void again: %d %v", w.Code, p)
	}
	if w, _ := env.api(t, env.key, "POST", "/v1/payments/pay_missing/capture", ""); w.Code != 404 {
		t.Fatalf("capture of a missing payment: %d", w.Code)
	}
}

// A payment screened NG never reaches the issuer, and the page answers it
// exactly as it answers a declined card: no oracle.
func TestBlockedPaymentLooksDeclined(t *testing.T) {
	env := MustEnv(t)
	declinedID := env.MustSession(t, "en")
	declined := env.pay(declinedID, "number=4000000000000002&expiry=12%2F40&name=TARO+YAMADA&cvc=123")
	if declined.Code != 402 {
		t.Fatalf("declined card: %d %s", declined.Code, declined.Body)
	}
	// httptest's requests come from 192.0.2.1: block it.
	if w, m := env.api(t, env.key, "POST", "/v1/risk/lists", `{"kind":"ip","value":"192.0.2.1"}`); w.Code != 201 {
		t.Fatalf("block: %d %v", w.Code, m)
	}
	calls := env.auth.calls.Load()
	id := env.MustSession(t, "en")
	blocked := env.pay(id, "number=4242+4242+4242+4242&expiry=12%2F40&name=TARO+YAMADA&cvc=123")
	if env.auth.calls.Load() != calls {
		t.Fatalf("a blocked payment reached the issuer")
	}
	if blocked.Code != declined.Code || blocked.Body.String() != declined.Body.String() {
		t.Fatalf("blocked answers %d %s; a decline answers %d %s", blocked.Code, blocked.Body, declined.Code, declined.Body)
	}
	if strings.Contains(blocked.Body.String(), "blocklist") || strings.Contains(blocked.Body.String(), "192.0.2") {
		t.Fatalf("the shopper's answer tells why: %s", blocked.Body)
	}
	// The merchant sees why.
	_, s := env.api(t, env.key, "GET", "/v1/sessions/"+id, "")
	risk := s["risk"].(map[string]any)
	if s["status"] != "open" || s["payment"] != nil || risk["verdict"] != "NG" ||
		risk["reasons"].([]any)[0].(map[string]any)["rule"] != "blocklist.ip" {
		t.Fatalf("session %v; want open, no payment, risk NG for blocklist.ip", s)
	}
}

// The page gives the browser a first-party device cookie once; the card
// submission reads it.
func TestDeviceCookie(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	w := env.do("GET", "/pay/"+id, "")
	var device *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == deviceCookie {
			device = c
		}
	}
	if device == nil || !strings.HasPrefix(device.Value, "dev_") || !device.HttpOnly || device.MaxAge <= 0 {
		t.Fatalf("device cookie %+v", device)
	}
	// Over plain HTTP browsers refuse SameSite=None without Secure: Lax.
	if device.Secure || device.SameSite != http.SameSiteLaxMode {
		t.Fatalf("device cookie over http: Secure %v SameSite %v; want Lax, not Secure", device.Secure, device.SameSite)
	}
	w = env.do("GET", "/pay/"+id, "", "Cookie", deviceCookie+"="+device.Value)
	if strings.Contains(w.Header().Get("Set-Cookie"), deviceCookie) {
		t.Fatalf("a second cookie for a browser that has one")
	}
	for _, bad := range []string{"x", "dev_" + strings.Repeat("A", 26), "dev_" + strings.Repeat("a", 200)} {
		w = env.do("GET", "/pay/"+id, "", "Cookie", deviceCookie+"="+bad)
		if !strings.Contains(w.Header().Get("Set-Cookie"), deviceCookie+"=dev_") {
			t.Fatalf("a forged cookie %q was kept", bad)
		}
	}

	// Over HTTPS the iframe needs SameSite=None; Secure.
	tls := New(Options{Service: env.svc, Keys: env.vault, BaseURL: "https://checkout.example", Risk: env.risk})
	req := httptest.NewRequest("GET", "https://checkout.example/pay/"+id, nil)
	rec := httptest.NewRecorder()
	tls.ServeHTTP(rec, req)
	var secure *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == deviceCookie {
			secure = c
		}
	}
	if secure == nil || !secure.Secure || secure.SameSite != http.SameSiteNoneMode {
		t.Fatalf("device cookie over https: %+v", secure)
	}

	// Cards tried from one device: counted across sessions (velocity), by
	// the cookie the page set.
	env.api(t, env.key, "PUT", "/v1/risk/settings", `{"cards_per_device":{"max":1,"score":80}}`)
	cookie := deviceCookie + "=" + device.Value
	for i, number := range []string{"4242424242424242", "5555555555554444"} {
		sid := env.MustSession(t, "en")
		w := env.pay(sid, "number="+number+"&expiry=12%2F40&name=TARO+YAMADA&cvc=123", "Cookie", cookie)
		want := []int{200, 402}[i]
		if w.Code != want {
			t.Fatalf("card %d from one device: %d; want %d", i+1, w.Code, want)
		}
	}
}
