package demoshop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

func TestDoneVerified(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	tests := []struct {
		name   string
		method string // POST: result_delivery "post"; GET: "query"
	}{
		{"form post", "POST"},
		{"query string", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orderID := MustBuy(t, h, f)
			claims := f.claims(orderID)
			token := f.MustSign(t, claims)
			form := url.Values{resultField: {token}}

			var code int
			var body string
			if tt.method == "POST" {
				w, b := do(t, h, "POST", "/done", form)
				code, body = w.Code, b
			} else {
				w, b := do(t, h, "GET", "/done?"+form.Encode(), nil)
				code, body = w.Code, b
			}
			if code != http.StatusOK {
				t.Fatalf("status %d\n%s", code, body)
			}
			for _, want := range []string{
				`id="outcome" class="ok">Payment verified<`,
				`id="order-id">` + orderID + `<`,
				`id="payment-id">` + claims.Subject + `<`,
				`id="last4">4242<`,
				`id="cvc-check">pass<`,
				`id="brand">visa<`,
				`id="amount">¥1,500<`,
				"<details>",
				html.EscapeString(`"jti": "` + claims.ID + `"`),
			} {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if strings.Contains(body, "NOT verified") {
				t.Error("the page says NOT verified")
			}
		})
	}
}

// A held payment is verified but not to be shipped: the page says so,
// with the screening verdict and the 3-D Secure outcome.
func TestDoneShowsHeldAndThreeDS(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	for _, status := range []string{"held", "succeeded"} {
		claims := f.claims(MustBuy(t, h, f))
		claims.Status = status
		claims.Risk = &verify.Risk{Verdict: "REVIEW", Score: 40, Reasons: []verify.RiskReason{}}
		claims.ThreeDS = &verify.ThreeDS{AuthenticationID: "3ds_1", Version: "2.2.0", Status: "Y", ECI: "05", Challenged: true, LiabilityShift: true}
		w, body := do(t, h, "POST", "/done", url.Values{resultField: {f.MustSign(t, claims)}})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", status, w.Code)
		}
		for _, want := range []string{`id="risk">REVIEW (score 40)<`, `id="three-ds">Y, ECI 05, challenged, liability shifted to the issuer<`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page lacks %q", status, want)
			}
		}
		if held := strings.Contains(body, `id="held" class="bad">`); held != (status == "held") {
			t.Errorf("%s: held notice shown = %v", status, held)
		}
	}
}

func TestDoneRefused(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	orderID := MustBuy(t, h, f)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		token      func() string
		wantReason string // part of the reason shown
	}{
		{"no token", func() string { return "" }, "no checkout_result"},
		{"not a JWT", func() string { return "not-a-token" }, verify.ErrMalformed.Error()},
		{"wrong audience", func() string {
			c := f.claims(orderID)
			c.Audience = jwt.ClaimStrings{"mer_other"}
			return f.MustSign(t, c)
		}, verify.ErrAudience.Error()},
		{"wrong issuer", func() string {
			c := f.claims(orderID)
			c.Issuer = "http://evil.test"
			return f.MustSign(t, c)
		}, verify.ErrIssuer.Error()},
		{"expired", func() string {
			c := f.claims(orderID)
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			return f.MustSign(t, c)
		}, verify.ErrExpired.Error()},
		{"tampered payload", func() string {
			token := f.MustSign(t, f.claims(orderID))
			parts := strings.Split(token, ".")
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			payload = []byte(strings.Replace(string(payload), `"amount":1500`, `"amount":1`, 1))
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return strings.Join(parts, ".")
		}, verify.ErrSignature.Error()},
		{"signed by another key", func() string {
			return MustSignWith(t, jwt.SigningMethodES256, otherKey, verify.TokenType, f.claims(orderID))
		}, verify.ErrSignature.Error()},
		{"wrong typ", func() string {
			return MustSignWith(t, jwt.SigningMethodES256, f.key, "JWT", f.claims(orderID))
		}, verify.ErrType.Error()},
		{"HS256 with the public key as secret", func() string {
			pub, err := f.key.PublicKey.ECDH()
			if err != nil {
				t.Fatal(err)
			}
			return MustSignWith(t, jwt.SigningMethodHS256, pub.Bytes(), verify.TokenType, f.claims(orderID))
		}, verify.ErrAlgorithm.Error()},
		{"no payment id", func() string {
			c := f.claims(orderID)
			c.Subject = ""
			return f.MustSign(t, c)
		}, "names no payment"},
		{"order the shop did not create", func() string {
			return f.MustSign(t, f.claims("demo-SOMEONEELSE"))
		}, "was not created by this shop"},
		{"amount differs from the order", func() string {
			c := f.claims(orderID)
			c.Amount = 1
			return f.MustSign(t, c)
		}, "costs ¥1,500"},
		{"currency differs from the order", func() string {
			c := f.claims(orderID)
			c.Currency = "USD"
			return f.MustSign(t, c)
		}, "costs ¥1,500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, body := do(t, h, "POST", "/done", url.Values{resultField: {tt.token()}})
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400\n%s", w.Code, body)
			}
			if !strings.Contains(body, `id="outcome" class="bad">Result NOT verified<`) {
				t.Errorf("the page does not say NOT verified\n%s", body)
			}
			if strings.Contains(body, "Payment verified") || strings.Contains(body, `id="order-id"`) {
				t.Error("the page shows a verified payment")
			}
			if !strings.Contains(body, `id="reason">`) || strings.Contains(body, `id="reason"></p>`) {
				t.Error("the page shows no reason")
			}
			if !strings.Contains(html.UnescapeString(body), tt.wantReason) {
				t.Errorf("the reason lacks %q\n%s", tt.wantReason, body)
			}
		})
	}
}

func TestDoneEscapesClaims(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	_, body := do(t, h, "POST", "/done", url.Values{resultField: {f.MustSign(t, f.claims(`<script>alert(1)</script>`))}})
	if strings.Contains(body, "<script>alert") {
		t.Error("a claim reached the page unescaped")
	}
}

func TestReplayRefused(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	token := f.MustSign(t, f.claims(MustBuy(t, h, f)))
	form := url.Values{resultField: {token}}

	if w, body := do(t, h, "POST", "/done", form); w.Code != http.StatusOK {
		t.Fatalf("first use: status %d\n%s", w.Code, body)
	}
	// Again on every route: the set of payments acted on is shared.
	for _, tc := range []struct{ method, target string }{
		{"POST", "/done"}, {"GET", "/done?" + form.Encode()}, {"POST", "/verify"},
	} {
		var f url.Values
		if tc.method == "POST" {
			f = form
		}
		w, body := do(t, h, tc.method, tc.target, f)
		if w.Code != http.StatusBadRequest || !strings.Contains(body, "already recorded") {
			t.Errorf("%s %s replayed: status %d\n%s", tc.method, tc.target, w.Code, body)
		}
	}
}

// Issue 9, item 5: two results of one payment (the checkout re-issues it
// when a shopper returns from a paid page) show "Payment verified" once.
func TestOnePaymentIsVerifiedOnce(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	orderID := MustBuy(t, h, f)
	first := f.claims(orderID)
	second := f.claims(orderID)
	second.Subject = first.Subject // the same payment, another token (another exp, even another jti)
	second.ExpiresAt = jwt.NewNumericDate(time.Now().Add(9 * time.Minute))
	if w, body := do(t, h, "POST", "/done", url.Values{resultField: {f.MustSign(t, first)}}); w.Code != http.StatusOK || !strings.Contains(body, "Payment verified") {
		t.Fatalf("first result: %d\n%s", w.Code, body)
	}
	w, body := do(t, h, "POST", "/done", url.Values{resultField: {f.MustSign(t, second)}})
	if w.Code != http.StatusBadRequest || strings.Contains(body, "Payment verified") || !strings.Contains(body, "already recorded") {
		t.Errorf("second result of the same payment: %d\n%s", w.Code, body)
	}
}

func TestVerifyJSON(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	orderID := MustBuy(t, h, f)
	token := f.MustSign(t, f.claims(orderID))
	expired := f.claims(orderID)
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))

	tests := []struct {
		name         string
		token        string
		wantStatus   int
		wantVerified bool
		wantError    string
	}{
		{"valid", token, http.StatusOK, true, ""},
		{"replayed", token, http.StatusBadRequest, false, "already recorded"},
		{"expired", f.MustSign(t, expired), http.StatusBadRequest, false, ""},
		{"missing", "", http.StatusBadRequest, false, "no checkout_result"},
	}
	for _, tt := range tests { // in order: "replayed" follows "valid"
		t.Run(tt.name, func(t *testing.T) {
			w, body := do(t, h, "POST", "/verify", url.Values{resultField: {tt.token}})
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d\n%s", w.Code, tt.wantStatus, body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var got struct {
				Verified bool           `json:"verified"`
				Error    *string        `json:"error"`
				Result   *verify.Result `json:"result"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if got.Verified != tt.wantVerified {
				t.Fatalf("verified = %v, want %v (%s)", got.Verified, tt.wantVerified, body)
			}
			if !tt.wantVerified {
				if got.Error == nil || *got.Error == "" || got.Result != nil {
					t.Errorf("a refusal must carry an error and no result: %s", body)
				} else if !strings.Contains(*got.Error, tt.wantError) {
					t.Errorf("error %q lacks %q", *got.Error, tt.wantError)
				}
				return
			}
			if got.Error != nil || got.Result == nil {
				t.Fatalf("a verified answer must carry a result and no error: %s", body)
			}
			r := got.Result
			if r.OrderID != orderID || !strings.HasPrefix(r.Subject, "pay_") || r.Card.Last4 != "4242" ||
				r.CVCCheck != "pass" || r.Amount != 1500 || r.Currency != "JPY" {
				t.Errorf("result %+v", r)
			}
		})
	}
}

func TestVerifyRefusesCrossSite(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	token := f.MustSign(t, f.claims(MustBuy(t, h, f)))
	r := newRequest("POST", "/verify", url.Values{resultField: {token}})
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := serve(h, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("cross-site /verify: status %d, want 403", w.Code)
	}
	// /done takes the checkout's cross-origin POST: the token authenticates it.
	r = newRequest("POST", "/done", url.Values{resultField: {token}})
	r.Header.Set("Sec-Fetch-Site", "same-site")
	r.Header.Set("Origin", f.URL)
	if w := serve(h, r); w.Code != http.StatusOK {
		t.Fatalf("/done from the checkout's origin: status %d\n%s", w.Code, w.Body)
	}
}
