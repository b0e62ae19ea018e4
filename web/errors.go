package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// statusOf is the one table from checkout error codes to HTTP statuses
// (docs/API.md, "Errors"). Codes are found with errors.As, never by matching
// message text.
var statusOf = map[string]int{
	checkout.EINVALID:      http.StatusBadRequest,
	checkout.EUNAUTHORIZED: http.StatusUnauthorized,
	checkout.EDECLINED:     http.StatusPaymentRequired,
	checkout.EFORBIDDEN:    http.StatusForbidden,
	checkout.ENOTFOUND:     http.StatusNotFound,
	checkout.ECONFLICT:     http.StatusConflict,
	checkout.EEXPIRED:      http.StatusGone,
	checkout.EAUTHEXPIRED:  http.StatusGone,
	checkout.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	checkout.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	checkout.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	checkout.ERATELIMITED:  http.StatusTooManyRequests,
	checkout.ECHALLENGE:    http.StatusPreconditionRequired, // RFC 6585: solve the challenge, then send again
	checkout.EINTERNAL:     http.StatusInternalServerError,
	checkout.EUNAVAILABLE:  http.StatusServiceUnavailable,
	checkout.ETIMEOUT:      http.StatusGatewayTimeout,
}

// httpStatus maps a code to its status; an unknown code is our bug: 500.
func httpStatus(code string) int {
	if st, ok := statusOf[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error (docs/API.md).
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string       `json:"code"`
	Field   string       `json:"field,omitempty"`
	Message string       `json:"message"`
	Details []detailJSON `json:"details,omitempty"`
}

// detailJSON is one field's error in a form submission.
type detailJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// internalError is what a user sees of a failure we did not anticipate: no
// detail of it leaves the server (OWASP ASVS 7.4.1).
var internalError = &checkout.Error{Code: checkout.EINTERNAL, Message: "internal error", MsgID: "error.internal"}

// asError returns the *checkout.Error in err. An error without one, or with
// an unknown code, is logged and becomes internalError. Internal and
// unavailable errors are logged too: the user's message does not say why.
func asError(log *slog.Logger, route string, err error) *checkout.Error {
	if log == nil {
		log = slog.Default()
	}
	var e *checkout.Error
	if !errors.As(err, &e) {
		log.Error("unexpected error", "route", route, "err", err)
		return internalError
	}
	if _, known := statusOf[e.Code]; !known {
		log.Error("error with an unknown code", "route", route, "code", e.Code, "err", err)
		return internalError
	}
	if e.Code == checkout.EINTERNAL || e.Code == checkout.EUNAVAILABLE {
		log.Error("request failed", "route", route, "code", e.Code, "err", err)
	}
	return e
}

// writeError answers err as JSON with its English, user-safe message: the
// merchant API's error shape.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	e := asError(log, c.FullPath(), err)
	if e.Code == checkout.EUNAUTHORIZED {
		c.Header("WWW-Authenticate", `Bearer realm="checkout"`) // RFC 6750 section 3
	}
	writeJSON(c, httpStatus(e.Code), errorBody{Error: errorJSON{Code: e.Code, Field: e.Field, Message: e.Message}})
}

// writeJSON answers v as JSON. HTML characters stay escaped (json.Marshal's
// default), so a JSON body sniffed as HTML cannot run script.
func writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode JSON response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	c.Data(status, "application/json; charset=utf-8", b)
}
