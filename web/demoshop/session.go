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
// orderID, with the checkout's page in locale.
func (s *shop) createSession(ctx context.Context, orderID string, p product, locale string) (*session, error) {
	body, err := json.Marshal(sessionRequest{
		Amount:     p.Amount,
		Currency:   p.Currency,
		OrderID:    orderID,
		SuccessURL: s.shopURL + "/done",
		CancelURL:  s.shopURL + "/",
		Locale:     locale,
		// The result comes back in a POST body, which keeps it out of URLs,
		// browser history and access logs.
		ResultDelivery: "post",
	})
	if err != nil {
		return nil, fmt.Errorf("demoshop: encode session request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.checkoutURL+"/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("demoshop: session request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	// A new key per click: a retry of this very request would be answered
	// with the same session instead of creating a second one.
	req.Header.Set("Idempotency-Key", rand.Text())

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("demoshop: create session: %w", err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIReplyBytes))
	if err != nil {
		return nil, fmt.Errorf("demoshop: create session: read reply: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(reply, &e) != nil || e.Error.Code == "" {
			e.Error = apiError{Code: "unknown", Message: "the reply is not an API error"}
		}
		e.Error.Status = resp.StatusCode
		return nil, fmt.Errorf("demoshop: create session: %w", &e.Error)
	}
	var sess session
	if err := json.Unmarshal(reply, &sess); err != nil {
		return nil, fmt.Errorf("demoshop: create session: decode reply: %w", err)
	}
	// The shop sends the shopper's browser to this URL: only an http(s) one.
	if u, err := url.Parse(sess.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || sess.ID == "" {
		return nil, fmt.Errorf("demoshop: create session: the reply has no usable id and url")
	}
	return &sess, nil
}
