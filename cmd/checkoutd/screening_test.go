package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// testCard returns a valid Visa number for n that is no sandbox test card:
// the sandbox approves it with any well-formed code, and each n is another
// card (another fingerprint).
func testCard(n int) string {
	body := fmt.Sprintf("4%014d", 500_000_000+n)
	for d := '0'; d <= '9'; d++ {
		if checkout.Luhn([]byte(body + string(d))) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all local on Linux): another shopper's network,
// as the checkout sees it.
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
}

// resultClaims decodes a result token's claims without verifying it (the
// verify package's tests do that): the test only reads what it carries.
func resultClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("result %q is not a JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// Card testing spread over two instances on one PostgreSQL: the velocity
// counters are the database's, so the merchant's threshold of distinct cards
// per IP holds across instances. Past it, no card reaches the issuer, while
// a shopper on another network in the same run still pays.
func TestVelocityHoldsAcrossInstances(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	a, b := e.instance(t), e.instance(t)

	// The merchant's own threshold, set through one instance: more than 2
	// distinct cards from one IP within an hour is NG.
	var settings map[string]any
	resp := a.api(t, "PUT", "/v1/risk/settings", map[string]any{
		"cards_per_ip": map[string]any{"max": 2, "window": "1h", "score": 100},
	}, &settings)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/risk/settings: %d %v", resp.StatusCode, settings)
	}

	tester := clientFrom("127.0.0.1")
	const cards = 8
	statuses := make([]int, cards)
	for i := range cards {
		p := []*process{a, b}[i%2] // a load balancer alternating instances
		s := p.mustSession(t, fmt.Sprintf("tester-%d", i))
		statuses[i], _ = p.pay(t, tester, s, testCard(i), "123")
		if i == 0 {
			var got struct {
				Payment struct {
					ID string `json:"id"`
				} `json:"payment"`
			}
			p.api(t, "GET", "/v1/sessions/"+s.ID, nil, &got)
			if got.Payment.ID == "" {
				t.Fatalf("the first card did not pay: %d\n%s", statuses[0], p.Output())
			}
		}
	}
	for i, st := range statuses {
		want := http.StatusOK
		if i >= 2 {
			want = http.StatusPaymentRequired // the decline's answer: no oracle
		}
		if st != want {
			t.Errorf("card %d (instance %c): %d; want %d (all: %v)", i+1, "ab"[i%2], st, want, statuses)
		}
	}
	// What reached the issuer: the attempts past the threshold were blocked
	// before authorization, each with the rule that stopped it.
	if n := e.query(t, `SELECT count(*) FROM attempts WHERE outcome = 'approved'`); n != 2 {
		t.Errorf("%d approved attempts; want 2", n)
	}
	if n := e.query(t, `SELECT count(*) FROM attempts WHERE outcome = 'blocked' AND risk_verdict = 'NG'
		AND risk_reasons @> '[{"rule": "velocity.ip_cards"}]'`); n != cards-2 {
		t.Errorf("%d attempts blocked by velocity.ip_cards; want %d", n, cards-2)
	}

	// An ordinary shopper on another network, with another email, in the
	// same run, pays. (The tester's sessions all carry one email, so the
	// tester's cards count against that email too.)
	var shopper session
	if resp := a.api(t, "POST", "/v1/sessions", map[string]any{
		"amount": 1500, "currency": "JPY", "order_id": "ordinary", "success_url": a.Shop + "/done",
		"customer_email": "hanako@example.jp",
	}, &shopper); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create session: %d", resp.StatusCode)
	}
	status, got := b.pay(t, clientFrom("127.0.0.2"), shopper, sandbox.CardMastercard, "123")
	if status != http.StatusOK {
		t.Fatalf("an ordinary shopper from 127.0.0.2: %d\n%s", status, b.Output())
	}
	claims := resultClaims(t, got.Token)
	risk, _ := claims["risk"].(map[string]any)
	if risk == nil || risk["verdict"] != "OK" || claims["status"] != "succeeded" {
		t.Fatalf("result claims %v; want risk OK and status succeeded", claims)
	}

	// The merchant reads the decision from either instance.
	var payment struct {
		Status string `json:"status"`
		Risk   *struct {
			Verdict string `json:"verdict"`
		} `json:"risk"`
	}
	a.api(t, "GET", "/v1/payments/"+claims["sub"].(string), nil, &payment)
	if payment.Status != "succeeded" || payment.Risk == nil || payment.Risk.Verdict != "OK" {
		t.Fatalf("payment as the API shows it: %+v", payment)
	}
	var audit struct {
		Data []struct {
			Action string `json:"action"`
			Actor  string `json:"actor"`
		} `json:"data"`
	}
	b.api(t, "GET", "/v1/risk/audit", nil, &audit)
	if len(audit.Data) != 1 || audit.Data[0].Action != "risk.settings.update" || strings.Contains(audit.Data[0].Actor, e.key) {
		t.Fatalf("audit log: %+v", audit.Data)
	}
}

// A held payment (REVIEW) authorized through one instance is captured
// through the other, and a second one voided there: the status is the
// database's, and the instances agree.
func TestReviewAcrossInstances(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	a, b := e.instance(t), e.instance(t)
	var settings map[string]any
	if resp := a.api(t, "PUT", "/v1/risk/settings", map[string]any{
		"amounts": map[string]any{"JPY": map[string]any{"review_above": 1000, "ng_above": 100000}},
	}, &settings); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/risk/settings: %d %v", resp.StatusCode, settings)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	held := func(card string) string {
		t.Helper()
		s := a.mustSession(t, "review-"+card[12:])
		status, got := a.pay(t, client, s, card, "123")
		if status != http.StatusOK {
			t.Fatalf("pay: %d", status)
		}
		claims := resultClaims(t, got.Token)
		if risk, _ := claims["risk"].(map[string]any); claims["status"] != "held" || risk["verdict"] != "REVIEW" {
			t.Fatalf("result claims %v; want held, REVIEW", claims)
		}
		// Screening asked the issuer for a challenge, which the shopper passed.
		if tds, _ := claims["three_ds"].(map[string]any); tds["challenge_requested"] != true || tds["challenged"] != true || tds["status"] != "Y" {
			t.Fatalf("result three_ds %v; want a requested challenge, passed", claims["three_ds"])
		}
		return claims["sub"].(string)
	}
	act := func(p *process, id, action string) (int, string) {
		var out struct {
			Status string `json:"status"`
		}
		resp := p.api(t, "POST", "/v1/payments/"+id+"/"+action, nil, &out)
		return resp.StatusCode, out.Status
	}

	one := held(sandbox.CardVisa)
	if code, status := act(b, one, "capture"); code != 200 || status != "captured" {
		t.Fatalf("capture on b: %d %s", code, status)
	}
	if code, _ := act(a, one, "void"); code != http.StatusConflict {
		t.Fatalf("void of a captured payment on a: %d", code)
	}
	two := held(sandbox.CardMastercard)
	if code, status := act(b, two, "void"); code != 200 || status != "voided" {
		t.Fatalf("void on b: %d %s", code, status)
	}
	if code, status := act(a, two, "void"); code != 200 || status != "voided" {
		t.Fatalf("void again on a: %d %s", code, status)
	}
	if n := e.query(t, `SELECT count(*) FROM payments WHERE status IN ('captured', 'voided') AND risk_verdict = 'REVIEW'`); n != 2 {
		t.Fatalf("%d reviewed payments stored; want 2", n)
	}
}
