package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

const merchantKey = "web.merchant"

// requireMerchant authenticates the merchant API's bearer key. Every /v1
// JSON call needs it; the error never says whether a key exists.
func (s *server) requireMerchant(c *gin.Context) {
	key, _ := bearerToken(c.GetHeader("Authorization"))
	m, err := s.svc.Authenticate(c.Request.Context(), key)
	if err != nil {
		writeError(c, s.log, err)
		c.Abort()
		return
	}
	c.Set(merchantKey, m)
	c.Next()
}

// bearerToken reads "Bearer <token>" (RFC 6750; the scheme is case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func merchantOf(c *gin.Context) checkout.Merchant {
	m, _ := c.Get(merchantKey)
	return m.(checkout.Merchant)
}

// sessionJSON is a checkout session as docs/API.md shows it.
type sessionJSON struct {
	ID        string       `json:"id"`
	Object    string       `json:"object"`
	URL       string       `json:"url"`
	Status    string       `json:"status"`
	Amount    int64        `json:"amount"`
	Currency  string       `json:"currency"`
	OrderID   string       `json:"order_id"`
	Locale    string       `json:"locale"`
	ExpiresAt string       `json:"expires_at"`
	Payment   *paymentJSON `json:"payment"`
}

// paymentJSON is a payment as docs/API.md shows it: of the card, only what
// PCI DSS 3.4.1 allows to display (brand, last 4, expiry) and references.
type paymentJSON struct {
	ID        string      `json:"id"`
	Object    string      `json:"object"`
	SessionID string      `json:"session_id"`
	OrderID   string      `json:"order_id"`
	Amount    int64       `json:"amount"`
	Currency  string      `json:"currency"`
	Status    string      `json:"status"`
	Card      verify.Card `json:"card"`
	CVCCheck  string      `json:"cvc_check"`
	CreatedAt string      `json:"created_at"`
}

func timeJSON(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func (s *server) sessionOf(sess checkout.Session, p *checkout.Payment) sessionJSON {
	out := sessionJSON{
		ID:        sess.ID,
		Object:    "checkout_session",
		URL:       s.baseURL + "/pay/" + sess.ID,
		Status:    string(sess.StatusAt(s.now())),
		Amount:    sess.Amount,
		Currency:  sess.Currency,
		OrderID:   sess.OrderID,
		Locale:    sess.Locale,
		ExpiresAt: timeJSON(sess.ExpiresAt),
	}
	if p != nil {
		pj := paymentOf(*p)
		out.Payment = &pj
	}
	return out
}

func paymentOf(p checkout.Payment) paymentJSON {
	return paymentJSON{
		ID:        p.ID,
		Object:    "payment",
		SessionID: p.SessionID,
		OrderID:   p.OrderID,
		Amount:    p.Amount,
		Currency:  p.Currency,
		Status:    p.Status,
		Card:      p.Card(),
		CVCCheck:  string(p.CVCCheck),
		CreatedAt: timeJSON(p.CreatedAt),
	}
}

// createSession is POST /v1/sessions. An idempotent replay answers 201 with
// the session as it is now and the header Idempotent-Replayed: true.
func (s *server) createSession(c *gin.Context) {
	if !hasMediaType(c.GetHeader("Content-Type"), "application/json") {
		writeError(c, s.log, &checkout.Error{Code: checkout.EMEDIATYPE, Message: "send the body as Content-Type: application/json"})
		return
	}
	keys := c.Request.Header.Values("Idempotency-Key")
	if len(keys) > 1 || (len(keys) == 1 && keys[0] == "") {
		writeError(c, s.log, &checkout.Error{Code: checkout.EINVALID, Field: "Idempotency-Key", Message: "send one Idempotency-Key of 1 to 255 printable ASCII characters"})
		return
	}
	body, err := io.ReadAll(c.Request.Body) // capped by limitBody(maxAPIBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(c, s.log, tooLarge(maxAPIBody))
			return
		}
		writeError(c, s.log, &checkout.Error{Code: checkout.EINVALID, Message: "the request body could not be read"})
		return
	}
	req, err := decodeSessionRequest(body)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	sess, replayed, err := s.svc.CreateSession(c.Request.Context(), merchantOf(c), c.GetHeader("Idempotency-Key"), req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	writeJSON(c, http.StatusCreated, s.sessionOf(sess, nil))
}

// decodeSessionRequest reads exactly one JSON object with only the known
// fields, each of its type (OWASP API3:2023, mass assignment; ASVS 5.1.x).
func decodeSessionRequest(body []byte) (checkout.SessionRequest, error) {
	var req checkout.SessionRequest
	invalid := func(field, msg string) (checkout.SessionRequest, error) {
		return checkout.SessionRequest{}, &checkout.Error{Code: checkout.EINVALID, Field: field, Message: msg}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalid("", "the body must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return invalid(typeErr.Field, typeErr.Field+" must be a JSON "+jsonTypeName(typeErr.Type.String()))
		case errors.As(err, &syntaxErr):
			return invalid("", "the body is not valid JSON (at byte "+strconv.FormatInt(syntaxErr.Offset, 10)+")")
		}
		// encoding/json has no error type for unknown fields: its message
		// is the only place that names the field.
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if f, uerr := strconv.Unquote(name); uerr == nil && len(f) <= 64 {
				return invalid(f, "unknown field "+strconv.Quote(f))
			}
			return invalid("", "the body has an unknown field")
		}
		return invalid("", "the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "the body must be exactly one JSON object")
	}
	return req, nil
}

// jsonTypeName names a Go type as a merchant writing JSON knows it.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case goType == "string":
		return "string"
	case strings.Contains(goType, "Address"):
		return "object"
	}
	return "value of another type"
}

// getSession is GET /v1/sessions/:id. Another merchant's id is not_found.
func (s *server) getSession(c *gin.Context) {
	sess, p, err := s.svc.Session(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, s.sessionOf(sess, p))
}

// getPayment is GET /v1/payments/:id. Another merchant's id is not_found.
func (s *server) getPayment(c *gin.Context) {
	p, err := s.svc.Payment(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, paymentOf(p))
}
