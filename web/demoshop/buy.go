package demoshop

import (
	"crypto/rand"
	"net/http"
	"time"
)

// maxFormBytes caps every form body the shop reads. A result token is well
// under 2 KiB.
const maxFormBytes = 16 << 10

// orderTTL is how long the shop remembers an order it created. It outlives
// the session (30 minutes by default) and the result token (10 minutes)
// with room to spare for an operator's longer sessions.
const orderTTL = 24 * time.Hour

// locales are the values of the form's locale choice, as the API takes them.
var locales = map[string]bool{"auto": true, "ja": true, "en": true}

// indexPage is the data of the product page.
type indexPage struct {
	Product product
}

// index shows the product, the locale choice and the test cards.
func (s *shop) index(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "index.html", indexPage{Product: greenTea})
}

// buyRedirect creates a session and sends the shopper to the checkout's page.
func (s *shop) buyRedirect(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.startCheckout(w, r)
	if !ok {
		return
	}
	// 303: the browser follows with a GET, whatever the form's method.
	http.Redirect(w, r, sess.URL, http.StatusSeeOther)
}

// iframePage is the data of the page that embeds the checkout.
type iframePage struct {
	Product    product
	SessionID  string
	CheckoutJS string
	Details    donePage // empty: shop.js fills the details in
}

// buyIframe creates a session and shows a page that embeds the checkout
// with checkout.js; static/shop.js mounts it and sends the result to
// /verify.
func (s *shop) buyIframe(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.startCheckout(w, r)
	if !ok {
		return
	}
	s.render(w, http.StatusOK, "iframe.html", iframePage{
		Product:    greenTea,
		SessionID:  sess.ID,
		CheckoutJS: s.checkoutURL + "/v1/checkout.js",
	})
}

// startCheckout reads the buy form, creates the order and its checkout
// session, and remembers the order. On failure it has written the error
// page and returns false.
func (s *shop) startCheckout(w http.ResponseWriter, r *http.Request) (*session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return nil, false
	}
	locale := r.PostForm.Get("locale")
	if locale == "" {
		locale = "auto"
	}
	if !locales[locale] {
		s.renderError(w, http.StatusBadRequest, "Bad request", "The language must be auto, ja or en.")
		return nil, false
	}
	// Ship later: the checkout only authorizes, and the shop captures when
	// it ships (POST /orders/capture).
	captureMethod := "automatic"
	if r.PostForm.Get("ship_later") == "1" {
		captureMethod = "manual"
	}
	// The shop's own order reference; random, so every click is a new order.
	orderID := "demo-" + rand.Text()
	sess, err := s.createSession(r.Context(), orderID, greenTea, locale, captureMethod)
	if err != nil {
		s.log.Error("demoshop: create checkout session", "order_id", orderID, "err", err)
		// A demo shows the developer what went wrong; the checkout's error
		// messages carry no secrets.
		s.renderError(w, http.StatusBadGateway, "The checkout did not create a session", err.Error())
		return nil, false
	}
	s.orders.put(orderID, greenTea, time.Now().Add(orderTTL))
	s.log.Info("demoshop: checkout session created", "order_id", orderID, "session_id", sess.ID, "locale", locale, "capture_method", captureMethod)
	return sess, true
}
