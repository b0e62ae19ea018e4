package demoshop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// The fake checkout stands in for the checkout server in the shop's unit
// tests: it answers POST /v1/sessions and serves a JWKS, on a real socket.
// The browser test drives the real checkoutd end to end.

const (
	testMerchantID = "mer_test"
	testAPIKey     = "sk_test_demo"
	testShopURL    = "http://shop.test:8081"
	testKID        = "key-1"
)

// sessionCall is one POST /v1/sessions the fake received.
type sessionCall struct {
	Header http.Header
	Body   wireSessionRequest
}

// wireSessionRequest is the session request as docs/API.md documents it,
// written out again here so the test checks the wire format, not the
// shop's own struct.
type wireSessionRequest struct {
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	OrderID        string `json:"order_id"`
	SuccessURL     string `json:"success_url"`
	CancelURL      string `json:"cancel_url"`
	Locale         string `json:"locale"`
	ResultDelivery string `json:"result_delivery"`
	CaptureMethod  string `json:"capture_method"`
}

type fakeCheckout struct {
	*httptest.Server
	key *ecdsa.PrivateKey

	mu       sync.Mutex
	calls    []sessionCall
	actions  []string // "POST /v1/payments/pay_x/capture", ...
	refunded bool
}

// MustFakeCheckout starts a fake checkout with a fresh ES256 key.
func MustFakeCheckout(tb testing.TB) *fakeCheckout {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeCheckout{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", f.createSession)
	mux.HandleFunc("GET /.well-known/jwks.json", f.jwks)
	mux.HandleFunc("POST /v1/payments/{id}/capture", f.capturePayment)
	mux.HandleFunc("POST /v1/payments/{id}/refunds", f.refundPayment)
	mux.HandleFunc("GET /v1/payments/{id}", f.payment)
	f.Server = httptest.NewServer(mux)
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeCheckout) createSession(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testAPIKey {
		apiErrorReply(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API key")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		apiErrorReply(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	var body wireSessionRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // as the real API does
	if err := dec.Decode(&body); err != nil {
		apiErrorReply(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, sessionCall{Header: r.Header.Clone(), Body: body})
	id := fmt.Sprintf("cs_test_%d", len(f.calls))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": id, "object": "checkout_session", "url": f.URL + "/pay/" + id,
		"status": "open", "amount": body.Amount, "currency": body.Currency,
		"order_id": body.OrderID, "locale": body.Locale,
		"expires_at": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339), "payment": nil,
	})
}

func apiErrorReply(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func (f *fakeCheckout) jwks(w http.ResponseWriter, r *http.Request) {
	pub, err := f.key.PublicKey.ECDH()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b := pub.Bytes() // 0x04 || X || Y, 32 bytes each on P-256
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": testKID, "alg": "ES256", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(b[33:65]),
	}}})
}

// lastCall returns the last session request the fake received.
func (f *fakeCheckout) lastCall(tb testing.TB) sessionCall {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		tb.Fatal("the fake checkout received no session request")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeCheckout) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// claims returns the claims of a valid result for orderID, as the checkout
// issues them.
func (f *fakeCheckout) claims(orderID string) *verify.Result {
	now := time.Now()
	return &verify.Result{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    f.URL,
			Audience:  jwt.ClaimStrings{testMerchantID},
			Subject:   "pay_" + rand.Text(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
			ID:        "jti_" + rand.Text(),
		},
		SessionID: "cs_test_1",
		OrderID:   orderID,
		Amount:    1500,
		Currency:  "JPY",
		Status:    "paid",
		Card: verify.Card{
			Token: "tok_test", Brand: "visa", Last4: "4242",
			ExpMonth: 12, ExpYear: 2030, Fingerprint: "fp_test",
		},
		CVCCheck: "pass",
	}
}

// MustSign signs claims as the checkout does: ES256, kid, typ.
func (f *fakeCheckout) MustSign(tb testing.TB, claims *verify.Result) string {
	tb.Helper()
	return MustSignWith(tb, jwt.SigningMethodES256, f.key, verify.TokenType, claims)
}

// MustSignWith signs claims with any method, key and typ, to make the
// tokens a verifier must refuse.
func MustSignWith(tb testing.TB, method jwt.SigningMethod, key any, typ string, claims *verify.Result) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = testKID
	t.Header["typ"] = typ
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// The fake's payments: captured for 1,500 once captured, refunded in full
// once refunded; it records the action paths it was sent.
func (f *fakeCheckout) capturePayment(w http.ResponseWriter, r *http.Request) {
	f.act(w, r, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": "captured", "amount": 1500,
		"currency": "JPY", "amount_captured": 1500, "amount_refunded": 0})
}

func (f *fakeCheckout) refundPayment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.refunded = true
	f.mu.Unlock()
	f.act(w, r, http.StatusCreated, map[string]any{"id": "re_test_1", "object": "refund", "amount": 1500, "status": "succeeded"})
}

func (f *fakeCheckout) payment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status, refunded := "captured", 0
	if f.refunded {
		status, refunded = "refunded", 1500
	}
	f.mu.Unlock()
	f.act(w, r, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": status, "amount": 1500,
		"currency": "JPY", "amount_captured": 1500, "amount_refunded": refunded})
}

func (f *fakeCheckout) act(w http.ResponseWriter, r *http.Request, status int, reply any) {
	if r.Header.Get("Authorization") != "Bearer "+testAPIKey {
		apiErrorReply(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API key")
		return
	}
	f.mu.Lock()
	f.actions = append(f.actions, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(reply)
}
