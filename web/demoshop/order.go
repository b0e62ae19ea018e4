package demoshop

import (
	"fmt"
	"net/http"
	"strconv"
)

// payment is the part of the API's payment the shop shows after acting on
// it.
type payment struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	AmountCaptured int64  `json:"amount_captured"`
	AmountRefunded int64  `json:"amount_refunded"`
}

// refund is the part of the API's refund the shop shows.
type refund struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
	Status string `json:"status"`
}

// orderPage is the data of the page that shows an order's payment after
// the shop captured or refunded it.
type orderPage struct {
	Action  string // what the shop did: "captured", "refunded"
	OrderID string
	Payment payment
	Refund  *refund
}

// Captured and Refunded are the payment's amounts for display.
func (p orderPage) Captured() string {
	return formatAmount(p.Payment.AmountCaptured, p.Payment.Currency)
}
func (p orderPage) Refunded() string {
	return formatAmount(p.Payment.AmountRefunded, p.Payment.Currency)
}

// capture is POST /orders/capture (form: payment, amount optional): the
// shop ships an order paid with capture_method manual and takes the money
// (POST /v1/payments/{id}/capture), in full or in part.
func (s *shop) capture(w http.ResponseWriter, r *http.Request) {
	orderID, paymentID, amount, ok := s.orderForm(w, r)
	if !ok {
		return
	}
	var body any
	if amount > 0 {
		body = map[string]int64{"amount": amount}
	}
	var p payment
	if err := s.call(r.Context(), http.MethodPost, "/v1/payments/"+paymentID+"/capture", body, http.StatusOK, &p); err != nil {
		s.renderError(w, http.StatusBadGateway, "The checkout did not capture the payment", err.Error())
		return
	}
	s.log.Info("demoshop: payment captured", "order_id", orderID, "payment_id", p.ID, "amount", p.AmountCaptured)
	s.render(w, http.StatusOK, "order.html", orderPage{Action: "captured", OrderID: orderID, Payment: p})
}

// refund is POST /orders/refund (form: payment, amount optional): the
// customer returns the order, or part of it (POST
// /v1/payments/{id}/refunds), then the shop shows the payment as it is
// now.
func (s *shop) refund(w http.ResponseWriter, r *http.Request) {
	orderID, paymentID, amount, ok := s.orderForm(w, r)
	if !ok {
		return
	}
	req := map[string]any{"reason": "requested_by_customer", "note": "returned to the demo shop"}
	if amount > 0 {
		req["amount"] = amount
	}
	var rf refund
	if err := s.call(r.Context(), http.MethodPost, "/v1/payments/"+paymentID+"/refunds", req, http.StatusCreated, &rf); err != nil {
		s.renderError(w, http.StatusBadGateway, "The checkout did not refund the payment", err.Error())
		return
	}
	var p payment
	if err := s.call(r.Context(), http.MethodGet, "/v1/payments/"+paymentID, nil, http.StatusOK, &p); err != nil {
		s.renderError(w, http.StatusBadGateway, "The checkout did not answer the payment", err.Error())
		return
	}
	s.log.Info("demoshop: payment refunded", "order_id", orderID, "payment_id", p.ID, "refund_id", rf.ID, "status", rf.Status)
	s.render(w, http.StatusOK, "order.html", orderPage{Action: "refunded", OrderID: orderID, Payment: p, Refund: &rf})
}

// orderForm reads an order action's form: a payment whose result the shop
// accepted (its own order), and an optional amount. On failure it has
// written the error page.
func (s *shop) orderForm(w http.ResponseWriter, r *http.Request) (orderID, paymentID string, amount int64, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return "", "", 0, false
	}
	paymentID = r.PostForm.Get("payment")
	orderID, known := s.seen.get(paymentID)
	if !known {
		s.renderError(w, http.StatusNotFound, "No such order", "The shop acts only on payments of its own orders it accepted.")
		return "", "", 0, false
	}
	if a := r.PostForm.Get("amount"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 1 {
			s.renderError(w, http.StatusBadRequest, "Bad request", fmt.Sprintf("The amount %q is not a positive whole number.", a))
			return "", "", 0, false
		}
		amount = n
	}
	return orderID, paymentID, amount, true
}
