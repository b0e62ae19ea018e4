package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// The merchant API of Japan's payment methods (docs/API.md, "Payment
// methods"): which methods and installment counts the merchant's shoppers
// may choose, and from what amount. Changes are audited beside the
// screening rules' (GET /v1/risk/audit).

// paymentMethodsJSON is the settings as the API answers them.
type paymentMethodsJSON struct {
	Object string `json:"object"` // "payment_method_settings"
	checkout.PaymentMethodSettings
}

// getPaymentMethods is GET /v1/payment_methods: the merchant's settings,
// lump sum alone until it saves its own.
func (s *server) getPaymentMethods(c *gin.Context) {
	writeJSON(c, http.StatusOK, paymentMethodsJSON{Object: "payment_method_settings", PaymentMethodSettings: merchantOf(c).PaymentMethods})
}

// putPaymentMethods is PUT /v1/payment_methods. The body is the settings as
// GET answers them (object may be left out); fields left out take their
// defaults, not their current values, so that the body alone says what is
// in force.
func (s *server) putPaymentMethods(c *gin.Context) {
	req := paymentMethodsJSON{PaymentMethodSettings: checkout.DefaultPaymentMethodSettings()}
	if !s.bindJSON(c, &req) {
		return
	}
	if req.Object != "" && req.Object != "payment_method_settings" {
		writeError(c, s.log, &checkout.Error{Code: checkout.EINVALID, Field: "object", Message: `object must be "payment_method_settings" or left out`})
		return
	}
	m := merchantOf(c)
	saved, err := s.svc.PutPaymentMethods(c.Request.Context(), checkout.APIActor(m), m, req.PaymentMethodSettings)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, paymentMethodsJSON{Object: "payment_method_settings", PaymentMethodSettings: saved})
}
