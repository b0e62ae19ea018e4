package demoshop

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// MustShop returns the shop's handler wired to the fake checkout.
func MustShop(tb testing.TB, f *fakeCheckout, apiKey string) http.Handler {
	tb.Helper()
	h, err := New(Options{
		CheckoutURL: f.URL,
		MerchantID:  testMerchantID,
		APIKey:      apiKey,
		ShopURL:     testShopURL,
		HTTPClient:  f.Client(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// newRequest returns a request to the shop, with form as its body when set.
func newRequest(method, target string, form url.Values) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// do sends one request to h and returns the recorded answer and its body.
func do(tb testing.TB, h http.Handler, method, target string, form url.Values) (*httptest.ResponseRecorder, string) {
	tb.Helper()
	w := serve(h, newRequest(method, target, form))
	return w, w.Body.String()
}

// MustBuy buys through the redirect flow and returns the order id the shop
// sent to the checkout.
func MustBuy(tb testing.TB, h http.Handler, f *fakeCheckout) string {
	tb.Helper()
	w, body := do(tb, h, "POST", "/buy/redirect", url.Values{"locale": {"auto"}})
	if w.Code != http.StatusSeeOther {
		tb.Fatalf("POST /buy/redirect: status %d, want 303\n%s", w.Code, body)
	}
	return f.lastCall(tb).Body.OrderID
}

func TestNewRejectsBadOptions(t *testing.T) {
	valid := Options{CheckoutURL: "http://localhost:8080", MerchantID: "mer_1", APIKey: "sk_test_1", ShopURL: "http://localhost:8081"}
	tests := []struct {
		name   string
		change func(*Options)
	}{
		{"no checkout url", func(o *Options) { o.CheckoutURL = "" }},
		{"relative checkout url", func(o *Options) { o.CheckoutURL = "localhost:8080" }},
		{"checkout url not http", func(o *Options) { o.CheckoutURL = "ftp://localhost:8080" }},
		{"checkout url with query", func(o *Options) { o.CheckoutURL = "http://localhost:8080/?a=b" }},
		{"no shop url", func(o *Options) { o.ShopURL = "" }},
		{"shop url with user info", func(o *Options) { o.ShopURL = "http://u:p@localhost:8081" }},
		{"no merchant id", func(o *Options) { o.MerchantID = "" }},
		{"no api key", func(o *Options) { o.APIKey = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.change(&o)
			if _, err := New(o); err == nil {
				t.Fatal("New accepted the options")
			}
		})
	}
	if _, err := New(valid); err != nil {
		t.Fatalf("New(valid): %v", err)
	}
}

func TestIndex(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	w, body := do(t, h, "GET", "/", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	for _, want := range []string{
		"Green tea", "¥1,500",
		`id="buy-redirect"`, `formaction="/buy/redirect"`, "Pay on the checkout page (redirect)",
		`id="buy-iframe"`, `formaction="/buy/iframe"`, "Pay in an embedded form (iframe)",
		`name="locale"`, `value="auto"`, `value="ja"`, `value="en"`,
		"4242 4242 4242 4242", "3782 822463 10005", "1234", "4000 0000 0000 0002",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	assertNoInlineScript(t, body)
}

func TestSecurityHeaders(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	for _, target := range []string{"/", "/static/shop.js", "/static/shop.css", "/done", "/no-such-page"} {
		t.Run(target, func(t *testing.T) {
			w, _ := do(t, h, "GET", target, nil)
			want := map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-store",
			}
			for k, v := range want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			csp := w.Header().Get("Content-Security-Policy")
			for _, d := range []string{
				"default-src 'none'", "script-src 'self' " + f.URL, "frame-src " + f.URL,
				"connect-src 'self'", "form-action 'self' " + f.URL, "frame-ancestors 'none'",
			} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe sources: %q", csp)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	w, body := do(t, h, "GET", "/static/shop.js", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{"Checkout.mount('#pay'", "dataset.session", "'/verify'", "checkout_result", "onCancel"} {
		if !strings.Contains(body, want) {
			t.Errorf("shop.js lacks %q", want)
		}
	}
	if strings.Contains(body, "innerHTML") {
		t.Error("shop.js uses innerHTML; set text with textContent")
	}
	if w, _ := do(t, h, "GET", "/static/", nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /static/: status %d, want 404 (no directory listing)", w.Code)
	}
}

func TestBuyRedirect(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)

	w, body := do(t, h, "POST", "/buy/redirect", url.Values{"locale": {"ja"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303\n%s", w.Code, body)
	}
	if got, want := w.Header().Get("Location"), f.URL+"/pay/cs_test_1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	call := f.lastCall(t)
	if got := call.Header.Get("Authorization"); got != "Bearer "+testAPIKey {
		t.Errorf("Authorization = %q", got)
	}
	if call.Header.Get("Idempotency-Key") == "" {
		t.Error("no Idempotency-Key")
	}
	want := wireSessionRequest{
		Amount: 1500, Currency: "JPY", OrderID: call.Body.OrderID,
		SuccessURL: testShopURL + "/done", CancelURL: testShopURL + "/",
		Locale: "ja", ResultDelivery: "post", CaptureMethod: "automatic",
	}
	if call.Body != want {
		t.Errorf("session request\n got %+v\nwant %+v", call.Body, want)
	}
	if !regexp.MustCompile(`^demo-[A-Za-z0-9]{16,}$`).MatchString(call.Body.OrderID) {
		t.Errorf("order_id %q is not demo-<random>", call.Body.OrderID)
	}

	// Every click is a new order with its own idempotency key.
	do(t, h, "POST", "/buy/redirect", url.Values{})
	second := f.lastCall(t)
	if second.Body.OrderID == call.Body.OrderID {
		t.Error("two purchases share an order_id")
	}
	if second.Header.Get("Idempotency-Key") == call.Header.Get("Idempotency-Key") {
		t.Error("two purchases share an Idempotency-Key")
	}
	if second.Body.Locale != "auto" {
		t.Errorf("no locale chosen: sent %q, want auto", second.Body.Locale)
	}
}

func TestBuyRefusals(t *testing.T) {
	f := MustFakeCheckout(t)
	tests := []struct {
		name       string
		apiKey     string
		form       url.Values
		header     map[string]string
		wantStatus int
		wantText   string
		wantCalls  int // session requests the fake receives
	}{
		{
			name: "unknown locale", apiKey: testAPIKey, form: url.Values{"locale": {"fr"}},
			wantStatus: http.StatusBadRequest, wantText: "auto, ja or en",
		},
		{
			name: "checkout refuses the key", apiKey: "sk_test_wrong", form: url.Values{"locale": {"en"}},
			wantStatus: http.StatusBadGateway, wantText: "unauthorized",
		},
		{
			// Another site's page must not make the shop spend its key.
			name: "cross-site form", apiKey: testAPIKey, form: url.Values{"locale": {"en"}},
			header:     map[string]string{"Sec-Fetch-Site": "cross-site"},
			wantStatus: http.StatusForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustShop(t, f, tt.apiKey)
			before := f.callCount()
			for _, path := range []string{"/buy/redirect", "/buy/iframe"} {
				r := newRequest("POST", path, tt.form)
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
				w := serve(h, r)
				if w.Code != tt.wantStatus {
					t.Errorf("%s: status %d, want %d\n%s", path, w.Code, tt.wantStatus, w.Body)
				}
				if !strings.Contains(w.Body.String(), tt.wantText) {
					t.Errorf("%s: the page lacks %q\n%s", path, tt.wantText, w.Body)
				}
			}
			if got := f.callCount() - before; got != tt.wantCalls {
				t.Errorf("the checkout received %d session requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestBuyIframe(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	w, body := do(t, h, "POST", "/buy/iframe", url.Values{"locale": {"en"}})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d\n%s", w.Code, body)
	}
	call := f.lastCall(t)
	if call.Body.Locale != "en" || call.Body.SuccessURL != testShopURL+"/done" || call.Body.Amount != 1500 {
		t.Errorf("session request %+v", call.Body)
	}
	for _, want := range []string{
		`<div id="pay" data-session="cs_test_1"></div>`,
		`<script src="` + f.URL + `/v1/checkout.js"></script>`,
		`<script src="/static/shop.js"></script>`,
		`id="outcome"`, `id="order-id"`, `id="payment-id"`, `id="last4"`, `id="cvc-check"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// checkout.js must load before shop.js, which calls it.
	if strings.Index(body, "/v1/checkout.js") > strings.Index(body, "/static/shop.js") {
		t.Error("shop.js is loaded before checkout.js")
	}
	assertNoInlineScript(t, body)
}

// assertNoInlineScript fails if a script element has no src: the CSP
// allows none.
func assertNoInlineScript(tb testing.TB, body string) {
	tb.Helper()
	for _, tag := range regexp.MustCompile(`<script\b[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(tag, " src=") {
			tb.Errorf("inline script: %s", tag)
		}
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		tb.Error("inline event handler attribute")
	}
}
