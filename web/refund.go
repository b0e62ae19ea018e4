package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// createRefund is POST /v1/payments/:id/refunds: {"amount", "reason",
// "note"}, each optional, with an optional Idempotency-Key. It answers 201
// with the refund, pending or already settled; an idempotent replay
// answers the refund as it is now with Idempotent-Replayed: true.
func (s *server) createRefund(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	var req checkout.RefundRequest
	if err := optionalBody(c, &req); err != nil {
		writeError(c, s.log, err)
		return
	}
	r, replayed, err := s.svc.RefundPayment(c.Request.Context(), merchantOf(c), c.Param("id"), key, req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	writeJSON(c, http.StatusCreated, r.View())
}

// listRefunds is GET /v1/payments/:id/refunds: the payment's refunds,
// oldest first.
func (s *server) listRefunds(c *gin.Context) {
	refunds, err := s.svc.PaymentRefunds(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(refunds, checkout.Refund.View))
}
