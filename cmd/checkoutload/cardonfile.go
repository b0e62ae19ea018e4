package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Card on file, measured beside the ordinary checkout (-flow): "saved" is a
// returning shopper paying with the card it saved, its security code typed
// again; "charge" is the merchant charging that card without its shopper
// (POST /v1/payments). Both need each shopper's card saved first: a
// preparation pass, not measured, runs the ordinary checkout for each with
// a customer and save_card required, and keeps what it made.

// savedRef is a shopper's customer and saved card.
type savedRef struct{ customer, card string }

// savedCards are the preparation's saved cards, by shopper.
var savedCards sync.Map // int64 -> savedRef

// flows are the measured runs -flow chooses between.
var flows = map[string]func(context.Context, *http.Client, config, int64) (sample, error){
	"checkout": checkoutOnce,
	"saved":    payWithSavedOnce,
	"charge":   chargeOnce,
}

// saveOnce prepares shopper i: a customer, and the ordinary checkout with
// its card saved.
func saveOnce(ctx context.Context, client *http.Client, cfg config, i int64) (sample, error) {
	var cus struct {
		ID string `json:"id"`
	}
	if err := merchantCall(ctx, client, cfg, "POST", "/v1/customers", fmt.Sprintf(`{"reference":"load-%d"}`, i), "", http.StatusCreated, &cus); err != nil {
		return sample{}, fmt.Errorf("create customer: %w", err)
	}
	cfg.sessionExtra = fmt.Sprintf(`,"customer":%q,"save_card":"required"`, cus.ID)
	s, err := checkoutOnce(ctx, client, cfg, i)
	if err != nil {
		return s, err
	}
	var cards struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := merchantCall(ctx, client, cfg, "GET", "/v1/customers/"+cus.ID+"/cards", "", "", http.StatusOK, &cards); err != nil || len(cards.Data) != 1 {
		return s, fmt.Errorf("saved cards: %d, %v", len(cards.Data), err)
	}
	savedCards.Store(i, savedRef{customer: cus.ID, card: cards.Data[0].ID})
	return s, nil
}

// payWithSavedOnce is shopper i back: the merchant creates a session for
// its customer, the shopper opens the page and pays with the saved card,
// typing only its security code.
func payWithSavedOnce(ctx context.Context, client *http.Client, cfg config, i int64) (sample, error) {
	ref, ok := savedRef{}, false
	if v, found := savedCards.Load(i); found {
		ref, ok = v.(savedRef)
	}
	if !ok {
		return sample{}, errors.New("no saved card: its preparation failed")
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: shopperAddr(i)}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 30 * time.Second, Jar: jar, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer browser.CloseIdleConnections()
	began := time.Now()
	var session struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	body := fmt.Sprintf(`{"amount":1500,"currency":"JPY","order_id":"load-saved-%d","success_url":%q,"customer":%q}`, i, cfg.returnURL, ref.customer)
	if err := merchantCall(ctx, client, cfg, "POST", "/v1/sessions", body, "", http.StatusCreated, &session); err != nil {
		return sample{}, fmt.Errorf("create session: %w", err)
	}
	page, _ := http.NewRequestWithContext(ctx, "GET", session.URL, nil)
	var html []byte
	if err := do(browser, page, http.StatusOK, &html); err != nil {
		return sample{}, fmt.Errorf("open page: %w", err)
	}
	m := csrfPattern.FindSubmatch(html)
	if m == nil || !strings.Contains(string(html), ref.card) {
		return sample{}, errors.New("open page: no CSRF token, or the saved card is not offered")
	}
	payStart := time.Now()
	var s sample
	paid, err := submitCard(ctx, browser, cfg, session.ID, string(m[1]), url.Values{"saved_card": {ref.card}, "cvc": {"123"}}, &s.met)
	if err != nil {
		return s, err
	}
	return paidSample(s, paid, began, payStart)
}

// chargeOnce is the merchant charging shopper i's saved card, with no
// shopper: one call.
func chargeOnce(ctx context.Context, client *http.Client, cfg config, i int64) (sample, error) {
	v, ok := savedCards.Load(i)
	if !ok {
		return sample{}, errors.New("no saved card: its preparation failed")
	}
	ref := v.(savedRef)
	began := time.Now()
	var p struct {
		Status string `json:"status"`
		Result string `json:"result"`
	}
	body := fmt.Sprintf(`{"customer":%q,"card":%q,"amount":980,"currency":"JPY","order_id":"load-charge-%d","reason":"recurring"}`, ref.customer, ref.card, i)
	err := merchantCall(ctx, client, cfg, "POST", "/v1/payments", body, fmt.Sprintf("load-charge-%d", i), http.StatusCreated, &p)
	var s sample
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusPaymentRequired {
		s.met.declined = true
	}
	if err != nil {
		return s, fmt.Errorf("charge: %w", err)
	}
	s.met.review = p.Status == "held"
	s.total = time.Since(began)
	s.pay = s.total
	return s, nil
}

// merchantCall is one call of the merchant API with the benchmark
// merchant's key; key is the Idempotency-Key, if any.
func merchantCall(ctx context.Context, client *http.Client, cfg config, method, path, body, key string, want int, out any) error {
	req, _ := http.NewRequestWithContext(ctx, method, cfg.baseURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return do(client, req, want, out)
}
