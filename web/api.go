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
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
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
	ID        string `json:"id"`
	Object    string `json:"object"`
	URL       string `json:"url"`
	Status    string `json:"status"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	OrderID   string `json:"order_id"`
	Locale    string `json:"locale"`
	ExpiresAt string `json:"expires_at"`
	// CaptureMethod and AuthorizationTTL (days) as the request set them,
	// or their defaults.
	CaptureMethod    string `json:"capture_method"`
	AuthorizationTTL int    `json:"authorization_ttl"`
	// PaymentMethods is the session's restriction of the merchant's
	// payment methods; null: all of them.
	PaymentMethods *checkout.PaymentMethodSet `json:"payment_methods"`
	// Customer (null: none) and SaveCard (null: the card is not saved) as
	// the request set them.
	Customer *string                `json:"customer"`
	SaveCard *string                `json:"save_card"`
	Payment  *checkout.PaymentView  `json:"payment"`
	Risk     *checkout.RiskDecision `json:"risk"`     // the latest attempt's screening decision; null before one
	ThreeDS  *checkout.ThreeDS      `json:"three_ds"` // the latest attempt's 3-D Secure authentication; null before one
}

// cardAttemptJSON is one card submission on a session, as docs/API.md shows
// it: the screening history a payment and its chargebacks link to.
type cardAttemptJSON struct {
	Object        string                 `json:"object"` // "attempt"
	N             int                    `json:"n"`
	Outcome       string                 `json:"outcome"`
	DeclineReason string                 `json:"decline_reason,omitempty"`
	CVCCheck      string                 `json:"cvc_check,omitempty"`
	Card          *attemptCardJSON       `json:"card"`
	Risk          *checkout.RiskDecision `json:"risk"`
	ThreeDS       *checkout.ThreeDS      `json:"three_ds"`
	CreatedAt     string                 `json:"created_at"`
}

// attemptCardJSON is an attempt's card: brand, last 4 and the keyed
// fingerprint, to see one card across attempts.
type attemptCardJSON struct {
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

func attemptOf(a checkout.Attempt) cardAttemptJSON {
	out := cardAttemptJSON{Object: "attempt", N: a.N, Outcome: a.Outcome, DeclineReason: a.DeclineReason,
		CVCCheck: string(a.CVCCheck), Risk: a.Risk, ThreeDS: a.ThreeDS, CreatedAt: timeJSON(a.CreatedAt)}
	if a.Brand != "" {
		out.Card = &attemptCardJSON{Brand: string(a.Brand), Last4: a.Last4, Fingerprint: a.Fingerprint}
	}
	return out
}

func timeJSON(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func (s *server) sessionOf(sess checkout.Session, p *checkout.Payment, latest *checkout.Attempt) sessionJSON {
	out := sessionJSON{
		ID:               sess.ID,
		Object:           "checkout_session",
		URL:              s.baseURL + "/pay/" + sess.ID,
		Status:           string(sess.StatusAt(s.now())),
		Amount:           sess.Amount,
		Currency:         sess.Currency,
		OrderID:          sess.OrderID,
		Locale:           sess.Locale,
		ExpiresAt:        timeJSON(sess.ExpiresAt),
		CaptureMethod:    sess.CaptureMethod,
		AuthorizationTTL: sess.AuthorizationDays,
		PaymentMethods:   sess.PaymentMethods,
	}
	if sess.CustomerID != "" {
		out.Customer = &sess.CustomerID
	}
	if sess.SaveCard != "" {
		out.SaveCard = &sess.SaveCard
	}
	if latest != nil {
		out.Risk, out.ThreeDS = latest.Risk, latest.ThreeDS
	}
	if p != nil {
		pj := p.View()
		out.Payment = &pj
	}
	return out
}

// createSession is POST /v1/sessions. An idempotent replay answers 201 with
// the session as it is now and the header Idempotent-Replayed: true.
func (s *server) createSession(c *gin.Context) {
	if !hasMediaType(c.GetHeader("Content-Type"), "application/json") {
		writeError(c, s.log, errJSONMediaType)
		return
	}
	key, err := idempotencyKey(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	body, err := readBody(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	req, err := decodeSessionRequest(body)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	sess, replayed, err := s.svc.CreateSession(c.Request.Context(), merchantOf(c), key, req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	writeJSON(c, http.StatusCreated, s.sessionOf(sess, nil, nil))
}

// idempotencyKey is the request's Idempotency-Key: none, or exactly one
// that is not empty (the Service checks its characters).
func idempotencyKey(c *gin.Context) (string, error) {
	keys := c.Request.Header.Values("Idempotency-Key")
	if len(keys) > 1 || (len(keys) == 1 && keys[0] == "") {
		return "", &checkout.Error{Code: checkout.EINVALID, Field: "Idempotency-Key", Message: "send one Idempotency-Key of 1 to 255 printable ASCII characters"}
	}
	return c.GetHeader("Idempotency-Key"), nil
}

var errJSONMediaType = &checkout.Error{Code: checkout.EMEDIATYPE, Message: "send the body as Content-Type: application/json"}

// readBody reads the request body, capped by limitBody(maxAPIBody).
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(maxAPIBody)
		}
		return nil, &checkout.Error{Code: checkout.EINVALID, Message: "the request body could not be read"}
	}
	return body, nil
}

// decodeSessionRequest reads exactly one JSON object with only the known
// fields, each of its type (OWASP API3:2023, mass assignment; ASVS 5.1.x).
func decodeSessionRequest(body []byte) (checkout.SessionRequest, error) {
	var req checkout.SessionRequest
	if err := decodeStrict(body, &req); err != nil {
		return checkout.SessionRequest{}, err
	}
	return req, nil
}

// decodeStrict reads exactly one JSON object into v (over what v already
// holds), refusing unknown fields and values of the wrong type with an
// EINVALID error naming the field (OWASP API3:2023, mass assignment).
func decodeStrict(body []byte, v any) error {
	invalid := invalidJSON
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalid("", "the body must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		var domainErr *checkout.Error
		switch {
		case errors.As(err, &typeErr):
			field := jsonPath(typeErr.Field)
			return invalid(field, field+" must be a JSON "+jsonTypeName(typeErr.Type.String()))
		case errors.As(err, &syntaxErr):
			return invalid("", "the body is not valid JSON (at byte "+strconv.FormatInt(syntaxErr.Offset, 10)+")")
		case errors.As(err, &domainErr) && domainErr.Code == checkout.EINVALID:
			return domainErr // a value's own parser refused it, e.g. a duration
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
	return checkJSONKeys(body, v)
}

// jsonPath is the path of a value as the merchant wrote it: encoding/json
// names a value of an embedded struct by its Go path
// (Settings.review_score), and every name of the API's JSON is lower case,
// so the segments in upper case are the embedded structs' Go names.
func jsonPath(goPath string) string {
	segments := strings.Split(goPath, ".")
	kept := segments[:0]
	for _, s := range segments {
		if s == "" || !unicode.IsUpper(rune(s[0])) {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, ".")
}

func invalidJSON(field, msg string) error {
	return &checkout.Error{Code: checkout.EINVALID, Field: field, Message: msg}
}

// jsonTypeName names a Go type as a merchant writing JSON knows it.
func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case goType == "string":
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.Contains(goType, "Address"), strings.HasPrefix(goType, "risk."), strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"):
		return "object"
	}
	return "value of another type"
}

// getSession is GET /v1/sessions/:id, with the latest attempt's screening
// decision. Another merchant's id is not_found.
func (s *server) getSession(c *gin.Context) {
	ctx, m := c.Request.Context(), merchantOf(c)
	sess, p, err := s.svc.Session(ctx, m, c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	attempts, err := s.svc.Attempts(ctx, m, sess.ID)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	var latest *checkout.Attempt
	if len(attempts) > 0 {
		latest = &attempts[len(attempts)-1]
	}
	writeJSON(c, http.StatusOK, s.sessionOf(sess, p, latest))
}

// getAttempts is GET /v1/sessions/:id/attempts: every card submission on
// the session, oldest first, with its screening decision and 3-D Secure
// authentication. Another merchant's id is not_found.
func (s *server) getAttempts(c *gin.Context) {
	attempts, err := s.svc.Attempts(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(attempts, attemptOf))
}

// getPayment is GET /v1/payments/:id. Another merchant's id is not_found.
func (s *server) getPayment(c *gin.Context) {
	p, err := s.svc.Payment(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, p.View())
}

// capturePayment is POST /v1/payments/:id/capture: the merchant captures
// an authorized payment, or approves a held one, in full or, with
// {"amount": n}, in part. Capturing a captured payment answers it again.
func (s *server) capturePayment(c *gin.Context) {
	var req struct {
		Amount *int64 `json:"amount"`
	}
	if err := optionalBody(c, &req); err != nil {
		writeError(c, s.log, err)
		return
	}
	amount := int64(0) // all of it
	if req.Amount != nil {
		if *req.Amount < 1 {
			writeError(c, s.log, &checkout.Error{Code: checkout.EINVALID, Field: "amount", Message: "amount must be a positive integer in the currency's minor unit, at most what was authorized"})
			return
		}
		amount = *req.Amount
	}
	p, err := s.svc.CapturePayment(c.Request.Context(), merchantOf(c), c.Param("id"), amount)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, p.View())
}

// voidPayment is POST /v1/payments/:id/void: the merchant voids an
// authorized or held payment and its authorization is reversed. Voiding a voided payment
// answers it again.
func (s *server) voidPayment(c *gin.Context) {
	if err := emptyBody(c); err != nil {
		writeError(c, s.log, err)
		return
	}
	p, err := s.svc.VoidPayment(c.Request.Context(), merchantOf(c), c.Param("id"))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, p.View())
}

// emptyBody accepts no body, or an empty JSON object: an action without
// parameters takes none, and a field sent anyway is refused rather than
// ignored.
func emptyBody(c *gin.Context) error {
	return optionalBody(c, &struct{}{})
}

// optionalBody decodes a JSON object into v when the request has a body;
// no body leaves v as it is. Unknown fields are refused.
func optionalBody(c *gin.Context, v any) error {
	body, err := readBody(c)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	if !hasMediaType(c.GetHeader("Content-Type"), "application/json") {
		return errJSONMediaType
	}
	return decodeStrict(body, v)
}
