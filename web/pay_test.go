package web

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	cspNonceRe    = regexp.MustCompile(`'nonce-([^']+)'`)
	scriptTagRe   = regexp.MustCompile(`<script\b[^>]*>`)
	nonceAttrRe   = regexp.MustCompile(`\bnonce="([^"]+)"`)
	inlineStyleRe = regexp.MustCompile(`(?i)\sstyle\s*=|<style\b|\son[a-z]+\s*=`)
)

func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == name || strings.HasPrefix(d, name+" ") {
			return d
		}
	}
	return ""
}

func TestPayPageCSP(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	merchantOrigins := "https://shop.example http://127.0.0.1:8081"
	tests := []struct {
		name           string
		target         string
		status         int
		frameAncestors string
		xfo            string
	}{
		{"full page", "/pay/" + id, 200, "frame-ancestors 'none'", "DENY"},
		{"embed", "/pay/" + id + "?embed=1&parent=" + url.QueryEscape("https://shop.example"), 200, "frame-ancestors " + merchantOrigins, ""},
		{"embed loopback origin", "/pay/" + id + "?embed=1&parent=" + url.QueryEscape("http://127.0.0.1:8081"), 200, "frame-ancestors " + merchantOrigins, ""},
		{"embed parent not registered", "/pay/" + id + "?embed=1&parent=" + url.QueryEscape("https://evil.example"), 400, "frame-ancestors 'none'", "DENY"},
		{"embed parent not exact", "/pay/" + id + "?embed=1&parent=" + url.QueryEscape("https://shop.example/"), 400, "frame-ancestors 'none'", "DENY"},
		{"embed parent of another merchant", "/pay/" + id + "?embed=1&parent=" + url.QueryEscape("https://other.example"), 400, "frame-ancestors 'none'", "DENY"},
		{"embed without parent", "/pay/" + id + "?embed=1", 400, "frame-ancestors 'none'", "DENY"},
		{"unknown session", "/pay/cs_doesnotexist", 404, "frame-ancestors 'none'", "DENY"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := env.do("GET", tc.target, "")
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if got := directive(csp, "frame-ancestors"); got != tc.frameAncestors {
				t.Errorf("%q, want %q", got, tc.frameAncestors)
			}
			if got := w.Header().Get("X-Frame-Options"); got != tc.xfo {
				t.Errorf("X-Frame-Options %q, want %q", got, tc.xfo)
			}
			for _, d := range []string{"default-src 'none'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'"} {
				if directive(csp, strings.Fields(d)[0]) != d {
					t.Errorf("CSP lacks %q: %s", d, csp)
				}
			}
			if tc.status == 200 {
				if got := directive(csp, "form-action"); got != "form-action 'self' "+merchantOrigins {
					t.Errorf("%q", got)
				}
			}
			// The payment page frames the checkout's own 3-D Secure window,
			// and nothing else; a page that only says something frames nothing.
			wantFrameSrc := ""
			if tc.status == 200 {
				wantFrameSrc = "frame-src 'self'"
			}
			if got := directive(csp, "frame-src"); got != wantFrameSrc {
				t.Errorf("%q, want %q", got, wantFrameSrc)
			}
			m := cspNonceRe.FindStringSubmatch(directive(csp, "script-src"))
			if m == nil || len(m[1]) < 22 {
				t.Fatalf("script-src without a 128-bit nonce: %s", csp)
			}
			if seen[m[1]] {
				t.Errorf("nonce %s reused", m[1])
			}
			seen[m[1]] = true
			body := w.Body.String()
			for _, tag := range scriptTagRe.FindAllString(body, -1) {
				n := nonceAttrRe.FindStringSubmatch(tag)
				if n == nil || n[1] != m[1] {
					t.Errorf("script tag %s does not carry the response's nonce %s", tag, m[1])
				}
			}
			if tc.status == 200 && len(scriptTagRe.FindAllString(body, -1)) != 2 {
				t.Errorf("want the data block and pay.js, got %v", scriptTagRe.FindAllString(body, -1))
			}
			if loc := inlineStyleRe.FindStringIndex(body); loc != nil {
				t.Errorf("inline style or event handler: %q", body[loc[0]:min(loc[1]+40, len(body))])
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "http://") && strings.Contains(body, "<script src=\"http") {
				t.Errorf("inline script without nonce or third-party script")
			}
		})
	}
}

func TestPayPageForm(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	w := env.do("GET", "/pay/"+id, "")
	body := w.Body.String()
	for _, want := range []string{
		`<html lang="en">`,
		`id="number" type="text" inputmode="numeric" autocomplete="cc-number"`,
		`id="expiry" type="text" inputmode="numeric" autocomplete="cc-exp"`,
		`id="cvc" type="text" inputmode="numeric" autocomplete="cc-csc"`,
		`id="name" type="text" autocomplete="cc-name"`,
		`<label for="number">Card number</label>`,
		`<label for="expiry">Expiry date</label>`,
		`<label for="cvc">Security code</label>`,
		`<label for="name">Name on card</label>`,
		`aria-describedby="number-brand number-error"`, `id="number-error"`, `id="expiry-error"`, `id="cvc-error"`, `id="name-error"`,
		`id="form-error" class="form-error" role="alert"`,
		`<details id="cvc-help"`, `id="cvc-help-back"`, `id="cvc-help-front"`, `id="cvc-none"`, `id="cvc-illegible"`,
		`enter X`, `enter I`,
		`id="pay-button" class="primary" disabled`, "Pay ¥1,500",
		`id="cancel-link"`, `href="https://shop.example/cart"`,
		`<noscript>`, `Test Shop`, `order-1001`,
		`"csrf":"` + env.csrf(id) + `"`,
		`"state":"form"`, `"embed":false`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, `"parent"`) {
		t.Errorf("full page carries a postMessage target")
	}
	// Issue 9: the card cannot leave the page natively (before pay.js runs):
	// the form has no method or action, and no card input has a name a
	// native submission would send.
	form := regexp.MustCompile(`<form id="pay-form"[^>]*>`).FindString(body)
	if form == "" || strings.Contains(form, "method=") || strings.Contains(form, "action=") {
		t.Errorf("card form can submit natively: %s", form)
	}
	if m := regexp.MustCompile(`<input[^>]*\bname=`).FindString(body); m != "" {
		t.Errorf("a card input has a name a native submission would send: %s", m)
	}

	// The iframe variant: cancel is a button posting to the parent.
	w = env.do("GET", "/pay/"+id+"?embed=1&parent="+url.QueryEscape("https://shop.example"), "")
	body = w.Body.String()
	for _, want := range []string{`id="cancel-button"`, `"parent":"https://shop.example"`, `"embed":true`, `class="embed"`} {
		if !strings.Contains(body, want) {
			t.Errorf("embed page lacks %s", want)
		}
	}
	if strings.Contains(body, `id="cancel-link"`) {
		t.Errorf("embed page navigates to cancel_url itself")
	}
}

func TestPayPageLanguage(t *testing.T) {
	env := MustEnv(t)
	tests := []struct {
		locale, accept, lang, text string
	}{
		{"ja", "", "ja", "カード番号"},
		{"ja", "en-US,en;q=0.9", "ja", "セキュリティコード"},
		{"en", "ja", "en", "Card number"},
		{"auto", "ja-JP,ja;q=0.9,en;q=0.8", "ja", "有効期限"},
		{"auto", "en-GB,en;q=0.9", "en", "Expiry date"},
		{"auto", "fr-FR", "en", "Name on card"},
		{"auto", "", "en", "Security code"},
		{"auto", "ja;q=0.2, en;q=0.9", "en", "Card number"},
	}
	for _, tc := range tests {
		id := env.MustSession(t, tc.locale)
		w := env.do("GET", "/pay/"+id, "", "Accept-Language", tc.accept)
		body := w.Body.String()
		if !strings.Contains(body, `<html lang="`+tc.lang+`">`) || !strings.Contains(body, tc.text) {
			t.Errorf("locale %s, Accept-Language %q: want lang %s with %q", tc.locale, tc.accept, tc.lang, tc.text)
		}
	}
}

// Issue 9: a submission the browser navigated to (a stale page's native
// post, a broken link) answers a page in the shopper's language, not JSON;
// pay.js's fetch keeps its JSON.
func TestNavigatedErrorsArePages(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "ja")
	nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html,application/xhtml+xml", "Accept-Language", "en"}
	for _, tc := range []struct {
		name    string
		w       *httptest.ResponseRecorder
		status  int
		lang    string
		message string
	}{
		// A native post carries no CSRF header: refused, as a page.
		{"native post", env.do("POST", "/pay/"+id, "number=4242424242424242", append([]string{"Origin", testBase, "Content-Type", "application/x-www-form-urlencoded"}, nav...)...),
			http.StatusForbidden, `lang="en"`, "Reload the page"},
		// Past the CSRF check the session's language applies.
		{"card error", env.pay(id, "number=1", nav...), http.StatusBadRequest, `lang="ja"`, "ご利用いただけません"},
		{"broken link", env.do("GET", "/pay/"+id+"/nowhere", "", nav...), http.StatusNotFound, `lang="en"`, "This payment link is not valid"},
		{"broken link, Japanese", env.do("GET", "/nowhere", "", "Accept", "text/html", "Accept-Language", "ja"), http.StatusNotFound, `lang="ja"`, "ショップ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.w.Body.String()
			if tc.w.Code != tc.status || !strings.HasPrefix(tc.w.Header().Get("Content-Type"), "text/html") ||
				!strings.Contains(body, tc.lang) || !strings.Contains(body, tc.message) {
				t.Errorf("%d %s\n%s", tc.w.Code, tc.w.Header().Get("Content-Type"), body)
			}
			if csp := tc.w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("error page without the CSP: %q", csp)
			}
			if strings.Contains(body, "4242424242424242") {
				t.Errorf("the page echoes the card number")
			}
		})
	}
	// pay.js's fetch (Sec-Fetch-Mode: cors) still gets JSON.
	w := env.pay(id, "number=1", "Sec-Fetch-Mode", "cors", "Accept", "*/*")
	if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Errorf("fetch: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestPaySubmitRefusals(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	other := env.MustSession(t, "en")
	good := "number=4242424242424242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"
	tests := []struct {
		name    string
		form    string
		headers []string
		status  int
		code    string
	}{
		{"no CSRF token", good, []string{"X-CSRF-Token", ""}, 403, "forbidden"},
		{"CSRF token of another session", good, []string{"X-CSRF-Token", env.csrf(other)}, 403, "forbidden"},
		{"CSRF token truncated", good, []string{"X-CSRF-Token", env.csrf(id)[:20]}, 403, "forbidden"},
		{"cross-site Origin", good, []string{"Origin", "https://evil.example"}, 403, "forbidden"},
		{"merchant Origin", good, []string{"Origin", "https://shop.example"}, 403, "forbidden"},
		{"null Origin", good, []string{"Origin", "null"}, 403, "forbidden"},
		{"no Origin, cross-site fetch", good, []string{"Origin", "", "Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
		{"no Origin, no fetch metadata", good, []string{"Origin", ""}, 403, "forbidden"},
		{"wrong content type", good, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"multipart", good, []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"},
		{"too large", good + "&" + strings.Repeat("x", 4<<10), nil, 413, "too_large"},
		{"malformed escape", "number=4242%zz", nil, 400, "invalid"},
		{"unknown field", good + "&pin=1234", nil, 400, "invalid"},
		{"repeated field", good + "&cvc=999", nil, 400, "invalid"},
		{"repeated payment method", good + "&payment_method=lump_sum&payment_method=revolving", nil, 400, "invalid"},
		{"unknown payment method", good + "&payment_method=ribo", nil, 400, "invalid"},
		{"installments without a count", good + "&payment_method=installments", nil, 400, "invalid"},
		{"a count issuers do not take", good + "&payment_method=installments&installments=7", nil, 400, "invalid"},
		{"a method this card cannot take", good + "&payment_method=revolving", nil, 400, "invalid"},
		{"save_card on a checkout that saves no card", good + "&save_card=1", nil, 400, "invalid"},
		{"save_card other than 1", good + "&save_card=yes", nil, 400, "invalid"},
		{"a saved card that is no card id", "saved_card=tok_abc&cvc=123", nil, 400, "invalid"},
		{"a saved card on a checkout without a customer", "saved_card=card_aaaaaaaaaaaaaaaaaaaaaaaaaa&cvc=123", nil, 400, "invalid"},
		{"too many fields", strings.Repeat("a=1&", 9), nil, 400, "invalid"},
		{"unknown session", good, []string{}, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := id
			h := tc.headers
			if tc.name == "unknown session" {
				target = "cs_doesnotexist"
				h = []string{"X-CSRF-Token", env.csrf(target)}
			}
			w := env.pay(target, tc.form, h...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if e := decodeError(t, w); e.Code != tc.code || e.Message == "" {
				t.Errorf("error %+v, want %s", e, tc.code)
			}
			if strings.Contains(w.Body.String(), "4242") || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("echoes input or is cacheable: %s", w.Body)
			}
		})
	}
	if n := env.auth.calls.Load(); n != 0 {
		t.Errorf("refused submissions reached the authorizer %d times", n)
	}
	// Fetch Metadata alone is enough where a browser sends no Origin.
	w := env.pay(id, good, "Origin", "", "Sec-Fetch-Site", "same-origin")
	if w.Code != 200 {
		t.Errorf("same-origin fetch without Origin: %d %s", w.Code, w.Body)
	}
}

func TestPaySubmitCardErrors(t *testing.T) {
	env := MustEnv(t)
	tests := []struct {
		name    string
		locale  string
		form    string
		status  int
		code    string
		details map[string]string // field -> message substring
	}{
		{"all fields wrong, ja", "ja", "number=4242424242424241&expiry=13%2F30&name=&cvc=12", 400, "invalid", map[string]string{
			"number": "カード番号が正しくありません", "expiry": "有効期限の月は01から12", "name": "カード名義人", "cvc": "Visa のセキュリティコードは、カード裏面",
		}},
		{"all fields wrong, en", "en", "number=&expiry=0120&name=&cvc=", 400, "invalid", map[string]string{
			"number": "Enter the card number.", "expiry": "expired", "name": "Enter the name", "cvc": "or X if your card has none",
		}},
		{"amex code on the front", "en", "number=3782+822463+10005&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"cvc": "The security code of American Express cards is the 4 digits printed on the front.",
		}},
		{"amex code on the front, ja", "ja", "number=378282246310005&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"cvc": "American Express のセキュリティコードは、カード表面に印字された4桁の数字です。",
		}},
		{"diners length, ja", "ja", "number=305693000902000&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"number": "Diners Club のカード番号は14桁または16桁です。",
		}},
		{"diners length, en", "en", "number=305693000902000&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"number": "Diners Club card numbers have 14 or 16 digits.",
		}},
		{"brand not accepted", "en", "number=7011111111111117&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"number": "not accepted",
		}},
		{"unionpay length, ja", "ja", "number=620000000000000&expiry=12%2F40&name=A&cvc=123", 400, "invalid", map[string]string{
			"number": "UnionPay のカード番号は16〜19桁です。",
		}},
		{"letters in the code", "en", "number=4242424242424242&expiry=12%2F40&name=A&cvc=1a3", 400, "invalid", map[string]string{
			"cvc": "digits only",
		}},
		{"declined", "ja", "number=4000000000000002&expiry=12%2F40&name=A&cvc=123", 402, "card_declined", map[string]string{
			"": "このカードはご利用いただけませんでした",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := env.MustSession(t, tc.locale)
			w := env.pay(id, tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			e := decodeError(t, w)
			if e.Code != tc.code {
				t.Errorf("code %s, want %s", e.Code, tc.code)
			}
			got := map[string]string{}
			for _, d := range e.Details {
				got[d.Field] = d.Message
			}
			if len(e.Details) == 0 {
				got[e.Field] = e.Message
			}
			for field, want := range tc.details {
				if !strings.Contains(got[field], want) {
					t.Errorf("%s: %q, want ~%q (all: %v)", field, got[field], want, got)
				}
			}
			if len(got) != len(tc.details) {
				t.Errorf("details %v, want fields of %v", got, tc.details)
			}
			for _, secret := range []string{"4242424242424241", "378282246310005", "305693000902000", "1a3"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("answer echoes the input")
				}
			}
		})
	}
}

func TestPaySubmitSuccess(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	w := env.pay(id, "number=4242+4242+4242+4242&expiry=12+%2F+40&name=TARO+YAMADA&cvc=123")
	if w.Code != 200 {
		t.Fatalf("pay: %d %s", w.Code, w.Body)
	}
	var res map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res["status"] != "paid" || res["delivery"] != "post" || res["success_url"] != "https://shop.example/done" ||
		strings.Count(res["token"], ".") != 2 {
		t.Errorf("answer %v", res)
	}
	if strings.Contains(w.Body.String(), "4242424242424242") || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("answer leaks the number or is cacheable")
	}
	if n := env.auth.calls.Load(); n != 1 {
		t.Fatalf("authorizer calls %d", n)
	}
	for _, cvc := range env.auth.cvcs {
		for _, b := range cvc {
			if b != 0 {
				t.Errorf("security code buffer not zeroed after the request")
			}
		}
	}

	// A second submission (a double click, a retry) never charges twice: it
	// answers the same payment with the same result (the same jti).
	jti := func(token string) string {
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return ""
		}
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct{ Jti, Sub string }
		json.Unmarshal(b, &c)
		return c.Jti + " " + c.Sub
	}
	w = env.pay(id, "number=4242424242424242&expiry=12%2F40&name=TARO+YAMADA&cvc=123")
	var again map[string]string
	json.Unmarshal(w.Body.Bytes(), &again)
	if w.Code != 200 || again["status"] != "paid" || again["token"] == "" || env.auth.calls.Load() != 1 {
		t.Errorf("second submission: %d %v, authorizer calls %d", w.Code, again, env.auth.calls.Load())
	}
	if jti(again["token"]) != jti(res["token"]) {
		t.Errorf("second submission's result is %q, the first's %q: want the same jti and sub", jti(again["token"]), jti(res["token"]))
	}
	// A form with only the page's CSRF token gets no result (issue 9).
	if w := env.pay(id, ""); w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "token") {
		t.Errorf("empty form on a paid session: %d %s, want 400 and no result", w.Code, w.Body)
	}
	// The paid page's "return to the shop" fetches the same result from its
	// own endpoint, with the page's token and origin only.
	w = env.do("POST", "/pay/"+id+"/result", "", "Origin", testBase, "X-CSRF-Token", env.csrf(id))
	var back map[string]string
	json.Unmarshal(w.Body.Bytes(), &back)
	if w.Code != 200 || jti(back["token"]) != jti(res["token"]) || env.auth.calls.Load() != 1 {
		t.Errorf("return to the shop: %d %s", w.Code, w.Body)
	}
	if w := env.do("POST", "/pay/"+id+"/result", "", "Origin", "https://evil.example", "X-CSRF-Token", env.csrf(id)); w.Code != http.StatusForbidden {
		t.Errorf("return to the shop from another origin: %d, want 403", w.Code)
	}
	if w := env.do("POST", "/pay/"+env.MustSession(t, "en")+"/result", "", "Origin", testBase, "X-CSRF-Token", env.csrf(id)); w.Code != http.StatusForbidden {
		t.Errorf("return to the shop with another session's token: %d, want 403", w.Code)
	}

	// The shopper's page now says so.
	page := env.do("GET", "/pay/"+id, "").Body.String()
	for _, want := range []string{"This order is already paid", `id="return-button"`, `"state":"paid"`} {
		if !strings.Contains(page, want) {
			t.Errorf("paid page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="number"`) {
		t.Errorf("paid page still asks for a card")
	}

	// Query delivery, and the X code for a card without one.
	w = env.do("POST", "/v1/sessions", `{"amount":999,"currency":"USD","order_id":"q-1","success_url":"https://shop.example/done?x=1","result_delivery":"query"}`,
		"Authorization", "Bearer "+env.key, "Content-Type", "application/json")
	var s struct{ ID string }
	json.Unmarshal(w.Body.Bytes(), &s)
	w = env.pay(s.ID, "number=4000000000003238&expiry=01%2F2040&name=A&cvc=X")
	json.Unmarshal(w.Body.Bytes(), &res)
	if w.Code != 200 || res["delivery"] != "query" || res["success_url"] != "https://shop.example/done?x=1" {
		t.Errorf("query delivery: %d %s", w.Code, w.Body)
	}
	if page := env.do("GET", "/pay/"+s.ID, "").Body.String(); !strings.Contains(page, "$9.99") {
		t.Errorf("amount not formatted")
	}

	// Nothing typed reaches the logs. (Last 4 digits alone are not searched:
	// they may be shown, and durations and ids hold every 4-digit run.)
	logs := env.logText()
	for _, secret := range []string{"4242424242424242", "4242+4242", "4000000000003238", "cvc=", "number=", "TARO"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
}

func TestExpiredAndMissingPages(t *testing.T) {
	env := MustEnv(t)
	idJa := env.MustSession(t, "ja")
	idEn := env.MustSession(t, "en")
	env.advance(31 * time.Minute)

	w := env.do("GET", "/pay/"+idJa, "")
	if w.Code != 410 || !strings.Contains(w.Body.String(), "有効期限が切れました") || !strings.Contains(w.Body.String(), `lang="ja"`) {
		t.Errorf("expired ja: %d %s", w.Code, w.Body)
	}
	w = env.do("GET", "/pay/"+idEn+"?embed=1&parent="+url.QueryEscape("https://shop.example"), "")
	if w.Code != 410 || !strings.Contains(w.Body.String(), "This checkout has expired") ||
		!strings.Contains(w.Body.String(), `"error_code":"session_expired"`) ||
		directive(w.Header().Get("Content-Security-Policy"), "frame-ancestors") == "frame-ancestors 'none'" {
		t.Errorf("expired embed: %d %s", w.Code, w.Body)
	}
	w = env.pay(idEn, "number=4242424242424242&expiry=12%2F40&name=A&cvc=123")
	if w.Code != 410 || decodeError(t, w).Code != "session_expired" {
		t.Errorf("pay on expired: %d %s", w.Code, w.Body)
	}
	w = env.do("GET", "/pay/cs_doesnotexist", "", "Accept-Language", "ja")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "お支払い手続きが見つかりません") {
		t.Errorf("missing: %d %s", w.Code, w.Body)
	}
}

// A body without a declared length is cut at the cap as it is read.
func TestBodyCapsWithoutContentLength(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "ja")
	send := func(target, contentType, body string, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", testBase+target, io.MultiReader(strings.NewReader(body)))
		req.ContentLength = -1
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		return w
	}
	w := send("/v1/sessions", "application/json", `{"order_id":"`+strings.Repeat("a", 20<<10)+`"}`, "Authorization", "Bearer "+env.key)
	if w.Code != 413 || decodeError(t, w).Code != "too_large" {
		t.Errorf("API: %d %s", w.Code, w.Body)
	}
	w = send("/pay/"+id, "application/x-www-form-urlencoded", "number=4242424242424242&name="+strings.Repeat("a", 4<<10),
		"Origin", testBase, "X-CSRF-Token", env.csrf(id), "Accept-Language", "ja")
	if w.Code != 413 || decodeError(t, w).Code != "too_large" || strings.Contains(w.Body.String(), "4242") {
		t.Errorf("pay: %d %s", w.Code, w.Body)
	}
	// Exactly at the cap is accepted (and refused only for its content).
	form := "number=4242424242424242&expiry=12%2F40&cvc=123&name="
	w = send("/pay/"+id, "application/x-www-form-urlencoded", form+strings.Repeat("a", maxPayBody-len(form)),
		"Origin", testBase, "X-CSRF-Token", env.csrf(id))
	if w.Code != 400 || decodeError(t, w).Field != "name" {
		t.Errorf("at the cap: %d %s", w.Code, w.Body)
	}
}
