package demoshop

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Ship later: the shop asks for a manual capture, offers to capture the
// authorized payment it accepted, captures it, then refunds it; it acts on
// no payment it did not accept.
func TestOrderShippedLaterIsCapturedThenRefunded(t *testing.T) {
	f := MustFakeCheckout(t)
	h := MustShop(t, f, testAPIKey)
	if w, body := do(t, h, "POST", "/buy/redirect", url.Values{"locale": {"auto"}, "ship_later": {"1"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("buy: %d\n%s", w.Code, body)
	}
	call := f.lastCall(t)
	if call.Body.CaptureMethod != "manual" {
		t.Fatalf("the session asked capture_method %q; want manual", call.Body.CaptureMethod)
	}
	claims := f.claims(call.Body.OrderID)
	claims.Status = "authorized"
	w, body := do(t, h, "POST", "/done", url.Values{resultField: {f.MustSign(t, claims)}})
	if w.Code != http.StatusOK || !strings.Contains(body, `id="capture"`) || strings.Contains(body, `id="refund"`) {
		t.Fatalf("done: %d; want the capture button only\n%s", w.Code, body)
	}

	if w, _ := do(t, h, "POST", "/orders/capture", url.Values{"payment": {"pay_stranger"}}); w.Code != http.StatusNotFound {
		t.Fatalf("capture of a payment the shop never accepted: %d; want 404", w.Code)
	}
	w, body = do(t, h, "POST", "/orders/capture", url.Values{"payment": {claims.Subject}})
	if w.Code != http.StatusOK || !strings.Contains(body, `id="status">captured<`) || !strings.Contains(body, `id="refund"`) {
		t.Fatalf("capture: %d\n%s", w.Code, body)
	}
	w, body = do(t, h, "POST", "/orders/refund", url.Values{"payment": {claims.Subject}})
	if w.Code != http.StatusOK || !strings.Contains(body, `id="status">refunded<`) || !strings.Contains(body, `id="refund-status">succeeded<`) {
		t.Fatalf("refund: %d\n%s", w.Code, body)
	}
	want := []string{"POST /v1/payments/" + claims.Subject + "/capture", "POST /v1/payments/" + claims.Subject + "/refunds", "GET /v1/payments/" + claims.Subject}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.actions, want) {
		t.Fatalf("the checkout was sent %v; want %v", f.actions, want)
	}
}
