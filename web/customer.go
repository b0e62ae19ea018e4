package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// The merchant API of card on file (docs/API.md, "Customers and saved
// cards"): a merchant's customers and the cards they saved, which show no
// more of a card than a payment does.

// customerJSON is a customer as docs/API.md shows it.
type customerJSON struct {
	ID        string  `json:"id"`
	Object    string  `json:"object"` // "customer"
	Reference *string `json:"reference"`
	Email     string  `json:"email"`
	Name      string  `json:"name"`
	CreatedAt string  `json:"created_at"`
}

func customerOf(c checkout.Customer) customerJSON {
	out := customerJSON{ID: c.ID, Object: "customer", Email: c.Email, Name: c.Name, CreatedAt: timeJSON(c.CreatedAt)}
	if c.Reference != "" {
		out.Reference = &c.Reference
	}
	return out
}

// deletedJSON answers a deletion.
type deletedJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// createCustomer is POST /v1/customers.
func (s *server) createCustomer(c *gin.Context) {
	var req checkout.CustomerRequest
	if !s.bindJSON(c, &req) {
		return
	}
	cus, err := s.svc.CreateCustomer(c.Request.Context(), merchantOf(c), req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusCreated, customerOf(cus))
}

// listCustomers is GET /v1/customers?limit=&after=: the merchant's
// customers in id order, a page at a time.
func (s *server) listCustomers(c *gin.Context) {
	limit, err := limitParam(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	limit = pageLimit(limit)
	customers, err := s.svc.Customers(c.Request.Context(), merchantOf(c), c.Query("after"), limit)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	out := pageJSON[customerJSON]{Object: "list", Data: listOf(customers, customerOf).Data}
	if n := len(customers); n > 0 && n == limit {
		next := customers[n-1].ID
		out.Next = &next
	}
	writeJSON(c, http.StatusOK, out)
}

// getCustomer is GET /v1/customers/:id.
func (s *server) getCustomer(c *gin.Context) {
	cus, err := s.svc.Customer(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, customerOf(cus))
}

// deleteCustomer is DELETE /v1/customers/:id: the customer and its saved
// cards go, and the vault erases their numbers at once.
func (s *server) deleteCustomer(c *gin.Context) {
	id := c.Param("id")
	if err := s.svc.DeleteCustomer(c.Request.Context(), merchantOf(c), id); err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, deletedJSON{ID: id, Object: "customer", Deleted: true})
}

// listSavedCards is GET /v1/customers/:id/cards.
func (s *server) listSavedCards(c *gin.Context) {
	cards, err := s.svc.SavedCards(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(cards, checkout.SavedCard.View))
}

// deleteSavedCard is DELETE /v1/customers/:id/cards/:card: the vault
// erases the card's number at once.
func (s *server) deleteSavedCard(c *gin.Context) {
	id := c.Param("card")
	if err := s.svc.DeleteSavedCard(c.Request.Context(), merchantOf(c), c.Param("id"), id); err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, deletedJSON{ID: id, Object: "saved_card", Deleted: true})
}

// chargeJSON answers a charge: the payment as GET /v1/payments/{id}
// answers it, with its signed result.
type chargeJSON struct {
	checkout.PaymentView
	Result string `json:"result"` // the signed result (JWT), as the page hands it over
}

// createCharge is POST /v1/payments: a charge of a customer's saved card
// without its shopper. The Idempotency-Key header is required; a replay
// answers 200 with the same payment and Idempotent-Replayed: true.
func (s *server) createCharge(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	var req checkout.ChargeRequest
	if !s.bindJSON(c, &req) {
		return
	}
	res, replayed, err := s.svc.Charge(c.Request.Context(), merchantOf(c), key, req)
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	writeJSON(c, status, chargeJSON{PaymentView: res.Payment.View(), Result: res.Token})
}

// updateCard is the processor's account-updater notice (POST
// /v1/processor/cards/:token/updates, with the processor's key): the card
// under a vault token has a new expiry; its saved cards take it and their
// merchants hear card.updated.
func (s *server) updateCard(c *gin.Context) {
	var u checkout.CardUpdate
	if !s.bindJSON(c, &u) {
		return
	}
	n, err := s.svc.UpdateCard(c.Request.Context(), c.Param("token"), u)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, struct {
		Updated int `json:"updated"`
	}{n})
}
