package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// requireProcessor admits the card processor: its secret key, compared by
// its SHA-256 in constant time.
func (s *server) requireProcessor(c *gin.Context) {
	key, _ := bearerToken(c.GetHeader("Authorization"))
	sum := sha256.Sum256([]byte(key))
	if key == "" || len(key) > 200 || subtle.ConstantTimeCompare(sum[:], s.processor) != 1 {
		writeError(c, s.log, &checkout.Error{Code: checkout.EUNAUTHORIZED, Message: "missing or invalid processor key: send Authorization: Bearer <processor key>"})
		c.Abort()
		return
	}
	c.Next()
}

// recordChargeback is POST /v1/processor/payments/:id/chargebacks: a
// chargeback as the card processor notifies it, against any merchant's
// payment, with the guarantee's coverage decided at once. Merchants read
// theirs (GET /v1/chargebacks) but cannot record one: the guarantee pays
// them for it.
func (s *server) recordChargeback(c *gin.Context) {
	var req checkout.ChargebackRequest
	if !s.bindJSON(c, &req) {
		return
	}
	cb, err := s.chargebacks.Record(c.Request.Context(), c.Param("id"), req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusCreated, cb.View())
}

// getChargeback is GET /v1/chargebacks/:id; another merchant's is not_found.
func (s *server) getChargeback(c *gin.Context) {
	cb, err := s.chargebacks.Chargeback(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, cb.View())
}

// listChargebacks is GET /v1/chargebacks?payment=&limit=: newest first.
func (s *server) listChargebacks(c *gin.Context) {
	limit, err := intQuery(c, "limit", 1, 100)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	cbs, err := s.chargebacks.List(c.Request.Context(), merchantOf(c), checkout.ChargebackFilter{PaymentID: c.Query("payment"), Limit: limit})
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(cbs, checkout.Chargeback.View))
}

// guaranteeJSON is the guarantee as docs/API.md shows it: the year's cap,
// what was used and what is left, and the year's chargebacks with the
// coverage decided for each.
type guaranteeJSON struct {
	Object      string `json:"object"`
	YearlyCap   int64  `json:"yearly_cap"`
	Currency    string `json:"currency"`
	Default     bool   `json:"default"` // the merchant never set one
	Year        int    `json:"year"`
	TimeZone    string `json:"time_zone"`
	PeriodStart string `json:"period_start"`
	PeriodEnd   string `json:"period_end"`
	Used        int64  `json:"used"`
	Remaining   int64  `json:"remaining"`
	// LiabilityShifted is what 3-D Secure liability shifts covered this
	// year, by currency: the issuers' to bear, apart from the cap.
	LiabilityShifted map[string]int64                   `json:"liability_shifted"`
	Chargebacks      itemsJSON[checkout.ChargebackView] `json:"chargebacks"`
	HasMore          bool                               `json:"has_more"` // more chargebacks this year than listed
}

func guaranteeOf(st checkout.GuaranteeStatus) guaranteeJSON {
	return guaranteeJSON{
		Object:           "guarantee",
		YearlyCap:        st.Guarantee.YearlyCap,
		Currency:         st.Guarantee.Currency,
		Default:          !st.Guarantee.Custom,
		Year:             st.Year,
		TimeZone:         "Asia/Tokyo",
		PeriodStart:      timeJSON(st.From),
		PeriodEnd:        timeJSON(st.To),
		Used:             st.Used,
		Remaining:        st.Remaining,
		LiabilityShifted: st.LiabilityShifted,
		Chargebacks:      listOf(st.Chargebacks, checkout.Chargeback.View),
		HasMore:          st.HasMore,
	}
}

// getGuarantee is GET /v1/guarantee: this year's (JST) guarantee.
func (s *server) getGuarantee(c *gin.Context) {
	st, err := s.chargebacks.Status(c.Request.Context(), merchantOf(c))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, guaranteeOf(st))
}
