package demoshop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// sessionRequest is the body of POST /v1/sessions (docs/API.md).
type sessionRequest struct {
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	OrderID        string `json:"order_id"`
	SuccessURL     string `json:"success_url"`
	CancelURL      string `json:"cancel_url"`
	Locale         string `json:"locale"`
	ResultDelivery string `json:"result_delivery"`
	CaptureMethod  string `json:"capture_method"`
}

// session is the part of the API's checkout session the shop uses.
type session struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// apiError is the API's error body: {"error": {"code", "field", "message"}}.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("the checkout answered %d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("the checkout answered %d %s: %s", e.Status, e.Code, e.Message)
}

const (
	apiTimeout       = 10 * time.Second
	maxAPIReplyBytes = 64 << 10
)

// createSession asks the checkout for a session that sells p as order
// orderID, with the checkout's page in locale; captureMethod is
// "automatic" or "manual" (ship later: the shop captures when it ships).
func (s *shop) createSession(ctx context.Context, orderID string, p product, locale, captureMethod string) (*session, error) {
	var sess session
	err := s.call(ctx, http.MethodPost, "/v1/sessions", sessionRequest{
		Amount:        p.Amount,
		Currency:      p.Currency,
		OrderID:       orderID,
		SuccessURL:    s.shopURL + "/done",
		CancelURL:     s.shopURL + "/",
		Locale:        locale,
		CaptureMethod: captureMethod,
		// The result comes back in a POST body, which keeps it out of URLs,
		// browser history and access logs.
		ResultDelivery: "post",
	}, http.StatusCreated, &sess)
	if err != nil {
		return nil, fmt.Errorf("demoshop: create session: %w", err)
	}
	// The shop sends the shopper's browser to this URL: only an http(s) one.
	if u, err := url.Parse(sess.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || sess.ID == "" {
		return nil, fmt.Errorf("demoshop: create session: the reply has no usable id and url")
	}
	return &sess, nil
}

// call sends body (nil: none) to the checkout's API at path with the
// shop's key and a new Idempotency-Key, and decodes the answer into out
// when its status is want; any other status is the API's error.
func (s *shop) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.checkoutURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// A new key per click: a retry of this very request would be answered
	// with the same object instead of making a second one.
	req.Header.Set("Idempotency-Key", rand.Text())

	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIReplyBytes))
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(reply, &e) != nil || e.Error.Code == "" {
			e.Error = apiError{Code: "unknown", Message: "the reply is not an API error"}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	return nil
}
