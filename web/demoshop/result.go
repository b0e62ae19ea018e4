package demoshop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// resultField is the form field (and query parameter) that carries the
// signed result, as the checkout delivers it.
const resultField = "checkout_result"

// paidMemory is how long the demo remembers a payment it acted on. A real
// merchant records the payment id with the order, for good: the checkout
// hands the same payment's result again when a shopper comes back to a
// paid page, so a result may arrive twice long after the first.
const paidMemory = 24 * time.Hour

// verifyResult checks a signed result the way a merchant must before it
// ships anything: the signature and claims (verify.Verifier: ES256 only,
// typ, iss, aud, exp), that its payment (sub) was not acted on before, and
// that it pays for an order this shop created, for the amount the shop
// asked. It deduplicates on the payment, not the token: every result of one
// payment carries the same sub (and the same jti), and one payment ships
// one order.
func (s *shop) verifyResult(ctx context.Context, token string) (*verify.Result, error) {
	if token == "" {
		return nil, errors.New("the request carries no " + resultField)
	}
	res, err := s.verifier.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	// Only after the signature holds: a forged token must not fill the set.
	if res.Subject == "" {
		return nil, errors.New("the result names no payment (sub), so a second delivery could not be detected")
	}
	if !s.seen.putNew(res.Subject, res.OrderID, time.Now().Add(paidMemory)) {
		return nil, fmt.Errorf("payment %s was already recorded for its order: each payment is acted on once", res.Subject)
	}
	// A valid signature says the checkout issued the token, not that it is
	// for this order and this price.
	want, ok := s.orders.get(res.OrderID)
	if !ok {
		return nil, fmt.Errorf("order %q was not created by this shop (or the shop restarted since)", res.OrderID)
	}
	if res.Amount != want.Amount || res.Currency != want.Currency {
		return nil, fmt.Errorf("the result pays %s, but order %q costs %s",
			formatAmount(res.Amount, res.Currency), res.OrderID, want.Price())
	}
	return res, nil
}

// donePage is the data of the outcome page. Err is set when the result was
// not verified; otherwise Result and Claims are.
type donePage struct {
	Err    string
	Result *verify.Result
	Amount string // Result's amount for display
	Claims string // the token's payload, indented
}

// done verifies the result the checkout hands back at the end of the
// redirect flow, in a POST form field or in the query string, and shows the
// outcome.
func (s *shop) done(w http.ResponseWriter, r *http.Request) {
	var token string
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.render(w, http.StatusBadRequest, "done.html", donePage{Err: "The form could not be read."})
			return
		}
		token = r.PostForm.Get(resultField) // the body only: result_delivery "post"
	} else {
		token = r.URL.Query().Get(resultField) // result_delivery "query"
	}
	res, err := s.verifyResult(r.Context(), token)
	if err != nil {
		s.log.Warn("demoshop: result not verified", "err", err)
		s.render(w, http.StatusBadRequest, "done.html", donePage{Err: err.Error()})
		return
	}
	s.log.Info("demoshop: payment verified", "order_id", res.OrderID, "payment_id", res.Subject)
	s.render(w, http.StatusOK, "done.html", donePage{
		Result: res,
		Amount: formatAmount(res.Amount, res.Currency),
		Claims: rawClaims(token, res),
	})
}

// verifyResponse is the JSON answer of POST /verify.
type verifyResponse struct {
	Verified bool           `json:"verified"`
	Error    string         `json:"error,omitempty"`
	Result   *verify.Result `json:"result,omitempty"`
}

// verifyJSON verifies the result the iframe flow's page posts (form field
// checkout_result) and answers {verified, error?, result?}: 200 when
// verified, 400 when not.
func (s *shop) verifyJSON(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, verifyResponse{Error: "the form could not be read"})
		return
	}
	res, err := s.verifyResult(r.Context(), r.PostForm.Get(resultField))
	if err != nil {
		s.log.Warn("demoshop: result not verified", "err", err)
		writeJSON(w, http.StatusBadRequest, verifyResponse{Error: err.Error()})
		return
	}
	s.log.Info("demoshop: payment verified", "order_id", res.OrderID, "payment_id", res.Subject)
	writeJSON(w, http.StatusOK, verifyResponse{Verified: true, Result: res})
}

// rawClaims returns the payload of a verified token, indented, to show
// exactly what the checkout signed. It falls back to res re-encoded.
func rawClaims(token string, res *verify.Result) string {
	var buf bytes.Buffer
	if parts := strings.Split(token, "."); len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			if json.Indent(&buf, payload, "", "  ") == nil {
				return buf.String()
			}
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent; a write error only means the client left
}
