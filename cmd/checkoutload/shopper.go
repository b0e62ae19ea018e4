package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// A shopper is checkout i: its own loopback address, card, email and
// browser (cookie jar, so the device cookie the page sets is its own), so
// that screening's velocity rules and the card-testing limits see one
// ordinary shopper per checkout rather than one client trying thousands of
// cards. None of them should be challenged, limited or declined; the
// benchmark counts every one that is (met).

// shopperAddr is checkout i's own loopback address (127.1.0.1 and up, one
// per i below 15.6 million): Linux routes the whole of 127.0.0.0/8 to lo
// ("local 127.0.0.0/8 dev lo" in the local table), so binding to any of
// them needs no setup.
func shopperAddr(i int64) net.IP {
	// Below maxShoppers the second byte, 1+i/62500, is at most 250.
	return net.IPv4(127, byte(1+i/62500), byte(i/250%250), byte(1+i%250))
}

// maxShoppers bounds the shoppers' numbers: shopperAddr's addresses run out
// there.
const maxShoppers = 15_600_000

// shopperCard is checkout i's own Visa number with a valid Luhn digit:
// distinct in its first 12 digits too (the card-testing limit counts
// numbers sharing them), and outside the sandbox's fixed test cards
// (400000000000xxxx), so the issuer approves it frictionless with any
// well-formed code.
func shopperCard(i int64) string {
	body := fmt.Sprintf("4%011d000", i)
	for d := '0'; d <= '9'; d++ {
		if checkout.Luhn([]byte(body + string(d))) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// shopperEmail is checkout i's own address, on a reserved domain (RFC 2606).
func shopperEmail(i int64) string { return fmt.Sprintf("shopper-%d@example.com", i) }

// csrfPattern finds the pay form's CSRF token in the hosted page.
var csrfPattern = regexp.MustCompile(`"csrf":"([^"]+)"`)

// acsCSRFPattern finds the sandbox issuer's challenge form token.
var acsCSRFPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// met is what a checkout met on its way that an ordinary shopper should
// not: each is counted by the benchmark.
type met struct {
	threeDS     bool // the issuer's 3-D Secure challenge (answered)
	pow         bool // the proof-of-work challenge (428, solved)
	rateLimited bool // 429: a card-testing limit
	declined    bool // 402: declined (an NG verdict, a locked card, the issuer)
	review      bool // paid but held: a REVIEW verdict
}

// sample is one checkout's timings and what it met.
type sample struct {
	total, pay time.Duration
	met        met
}

// checkoutOnce is one shopper: the merchant creates a session (its server,
// client), the shopper opens the page and pays from its own address with
// its own card and browser, solving a proof of work and answering a 3-D
// Secure challenge if asked. A checkout that did not end paid returns an
// error, with what it met in the sample.
func checkoutOnce(ctx context.Context, client *http.Client, cfg config, i int64) (sample, error) {
	// A transport of its own: connections are never shared between shoppers,
	// so each one's requests come from its own address.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: shopperAddr(i)}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 30 * time.Second, Jar: jar, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer browser.CloseIdleConnections()
	began := time.Now()
	body := fmt.Sprintf(`{"amount":1500,"currency":"JPY","order_id":"load-%d","success_url":%q,"customer_email":%q%s}`,
		i, cfg.returnURL, shopperEmail(i), cfg.sessionExtra)
	req, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	req.Header.Set("Content-Type", "application/json")
	var session struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if err := do(client, req, http.StatusCreated, &session); err != nil {
		return sample{}, fmt.Errorf("create session: %w", err)
	}
	page, _ := http.NewRequestWithContext(ctx, "GET", session.URL, nil)
	var html []byte
	if err := do(browser, page, http.StatusOK, &html); err != nil {
		return sample{}, fmt.Errorf("open page: %w", err)
	}
	m := csrfPattern.FindSubmatch(html)
	if m == nil {
		return sample{}, errors.New("open page: no CSRF token in the page")
	}
	payStart := time.Now()
	card := cfg.card
	if card == "" {
		card = shopperCard(i)
	}
	var s sample
	form := url.Values{"number": {card}, "expiry": {"12/30"}, "name": {"LOAD TEST"}, "cvc": {"123"}}
	paid, err := submitCard(ctx, browser, cfg, session.ID, string(m[1]), form, &s.met)
	if err != nil {
		return s, err
	}
	if paid.Status == "requires_action" {
		// The shopper answers the issuer's window, and the page sends the
		// card again with the authentication.
		s.met.threeDS = true
		if err := answerChallenge(ctx, browser, cfg, paid.NextAction.URL); err != nil {
			return s, err
		}
		form.Set("authentication", paid.NextAction.AuthenticationID)
		if paid, err = submitCard(ctx, browser, cfg, session.ID, string(m[1]), form, &s.met); err != nil {
			return s, err
		}
	}
	return paidSample(s, paid, began, payStart)
}

// paidSample ends a checkout's sample: paid with a result (held for a
// REVIEW verdict, as the result says), timed from began (the session's
// creation) and payStart (the card's submission).
func paidSample(s sample, paid payAnswer, began, payStart time.Time) (sample, error) {
	if paid.Status != "paid" || paid.Token == "" {
		return s, fmt.Errorf("pay: status %q", paid.Status)
	}
	s.met.review = resultStatus(paid.Token) == "held"
	done := time.Now()
	s.total, s.pay = done.Sub(began), done.Sub(payStart)
	return s, nil
}

// payAnswer is the page's answer to a card submission (docs/API.md: paid
// with the signed result, or requires_action for a 3-D Secure challenge).
type payAnswer struct {
	Status     string `json:"status"`
	Token      string `json:"token"`
	NextAction struct {
		AuthenticationID string `json:"authentication_id"`
		URL              string `json:"url"`
	} `json:"next_action"`
}

// payRefusal is the page's error answer; a proof-of-work challenge
// (428 challenge_required) carries the challenge.
type payRefusal struct {
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
	Challenge checkout.Challenge `json:"challenge"`
}

// submitCard sends the card form as pay.js does: a 428 challenge is solved
// and the form sent once more with the solution. 429 and 402 end the
// checkout, noted in m.
func submitCard(ctx context.Context, client *http.Client, cfg config, sessionID, csrf string, form url.Values, m *met) (payAnswer, error) {
	pow := ""
	for {
		pay, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+"/pay/"+sessionID, strings.NewReader(form.Encode()))
		pay.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		pay.Header.Set("X-CSRF-Token", csrf)
		pay.Header.Set("Origin", cfg.baseURL)
		if pow != "" {
			pay.Header.Set("Checkout-PoW", pow)
		}
		var a payAnswer
		err := do(client, pay, http.StatusOK, &a)
		var se *statusError
		if !errors.As(err, &se) {
			if err != nil {
				return payAnswer{}, fmt.Errorf("pay: %w", err)
			}
			return a, nil
		}
		var r payRefusal
		json.Unmarshal(se.body, &r)
		switch {
		case se.code == http.StatusPreconditionRequired && r.Error.Code == checkout.ECHALLENGE && pow == "" && r.Challenge.Nonce != "":
			m.pow = true
			counter, err := solve(r.Challenge)
			if err != nil {
				return payAnswer{}, fmt.Errorf("pay: %w", err)
			}
			pow = r.Challenge.Nonce + ":" + counter
			continue
		case se.code == http.StatusTooManyRequests:
			m.rateLimited = true
		case se.code == http.StatusPaymentRequired:
			m.declined = true
		}
		return payAnswer{}, fmt.Errorf("pay: status %d %s", se.code, r.Error.Code)
	}
}

// solve finds a decimal counter such that SHA-256(nonce || counter) starts
// with bits zero bits, as pay.js does in the shopper's browser.
func solve(ch checkout.Challenge) (string, error) {
	limit := uint64(1) << min(ch.Bits+6, 30)
	for n := uint64(0); n < limit; n++ {
		c := strconv.FormatUint(n, 10)
		if checkout.LeadingZeroBits(sha256.Sum256([]byte(ch.Nonce+c))) >= ch.Bits {
			return c, nil
		}
	}
	return "", errors.New("proof of work: not solved")
}

// resultStatus is the payment status in a signed result's claims (held for
// a REVIEW verdict). The driver only reads it: verifying the signature is
// the merchant's business, not the benchmark's.
func resultStatus(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Status string `json:"status"`
	}
	json.Unmarshal(b, &claims)
	return claims.Status
}

// answerChallenge opens the sandbox issuer's window and enters the code.
func answerChallenge(ctx context.Context, client *http.Client, cfg config, path string) error {
	if !strings.HasPrefix(path, "/sandbox/acs/") {
		return fmt.Errorf("3-D Secure: unexpected window %q", path)
	}
	page, _ := http.NewRequestWithContext(ctx, "GET", cfg.baseURL+path, nil)
	var html []byte
	if err := do(client, page, http.StatusOK, &html); err != nil {
		return fmt.Errorf("3-D Secure window: %w", err)
	}
	m := acsCSRFPattern.FindSubmatch(html)
	if m == nil {
		return errors.New("3-D Secure window: no form token")
	}
	form := url.Values{"csrf": {string(m[1])}, "code": {sandbox.ChallengeCode}}
	answer, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+path, strings.NewReader(form.Encode()))
	answer.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var done []byte
	if err := do(client, answer, http.StatusOK, &done); err != nil {
		return fmt.Errorf("3-D Secure answer: %w", err)
	}
	return nil
}

// statusError is an answer with another status than the one wanted; body
// is what it said.
type statusError struct {
	code int
	body []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d", e.code) }

func do(client *http.Client, req *http.Request, want int, out any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{code: resp.StatusCode, body: b}
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}
