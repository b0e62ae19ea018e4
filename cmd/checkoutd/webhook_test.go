package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// hookReceiver is a merchant's webhook endpoint on loopback: it keeps every
// request and answers 200.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	signature string
	body      []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, hookRequest{req.Header.Get(verify.WebhookSignatureHeader), body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// byType waits (bounded) until an event of each type arrived, and returns
// the first of each.
func (r *hookReceiver) byType(t *testing.T, types ...string) map[string]hookRequest {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := map[string]hookRequest{}
		r.mu.Lock()
		for _, req := range r.reqs {
			var e struct{ Type string }
			if json.Unmarshal(req.body, &e) == nil {
				if _, seen := got[e.Type]; !seen {
					got[e.Type] = req
				}
			}
		}
		r.mu.Unlock()
		all := true
		for _, typ := range types {
			if _, ok := got[typ]; !ok {
				all = false
			}
		}
		if all {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks received: %v; want %v", got, types)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A merchant registers a webhook endpoint, a shopper pays, the processor's
// chargeback is recorded, and the merchant's server receives
// payment.authorized and chargeback.created, signed with the secret it was
// shown, verifiable with checkout/verify; on real PostgreSQL and Vault.
func TestWebhooksAndChargebackOnPostgres(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	// The operator's development switch lets the endpoint be on loopback.
	p := mustStartWith(t, filepath.Join(t.TempDir(), "data"), append(e.env(), "CHECKOUT_WEBHOOK_ALLOW_LOOPBACK=true"), "-demo-addr", "")
	p.Merchant.APIKey, p.Shop = e.key, "https://shop.example"
	receiver := newHookReceiver(t)

	var endpoint struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	resp := p.api(t, "POST", "/v1/webhooks", map[string]any{
		"url": receiver.URL + "/hooks", "events": []string{"payment.authorized", "chargeback.created"},
	}, &endpoint)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(endpoint.Secret, "whsec_") {
		t.Fatalf("register endpoint: %d %+v", resp.StatusCode, endpoint)
	}

	s := p.mustSession(t, "webhook-order")
	// A card 3-D Secure could not authenticate (U): no liability shift, so
	// a fraud chargeback falls to the guarantee.
	if status, _ := p.pay(t, &http.Client{Timeout: 30 * time.Second}, s, sandbox.Card3DSUnavailable, "123"); status != http.StatusOK {
		t.Fatalf("pay: %d\n%s", status, p.Output())
	}
	var sess struct {
		Payment struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Risk   struct {
				Verdict string `json:"verdict"`
			} `json:"risk"`
		} `json:"payment"`
	}
	p.api(t, "GET", "/v1/sessions/"+s.ID, nil, &sess)
	if sess.Payment.ID == "" || sess.Payment.Risk.Verdict != "OK" {
		t.Fatalf("paid session: %+v", sess)
	}

	var cb struct {
		ID          string `json:"id"`
		PaymentID   string `json:"payment_id"`
		RiskVerdict string `json:"risk_verdict"`
		Coverage    struct {
			Covered       bool   `json:"covered"`
			CoveredAmount int64  `json:"covered_amount"`
			Reason        string `json:"reason"`
		} `json:"coverage"`
	}
	// The processor notifies it, with its own key; the merchant's key
	// cannot (the guarantee pays the merchant for chargebacks).
	chargeback := map[string]any{"amount": 1000, "reason_code": "10.4", "reason": "Other Fraud: Card-Absent Environment"}
	if resp := p.api(t, "POST", "/v1/processor/payments/"+sess.Payment.ID+"/chargebacks", chargeback, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a chargeback with the merchant's key: %d", resp.StatusCode)
	}
	body, _ := json.Marshal(chargeback)
	req, _ := http.NewRequest("POST", p.BaseURL+"/v1/processor/payments/"+sess.Payment.ID+"/chargebacks", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.processorKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&cb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || cb.PaymentID != sess.Payment.ID || cb.RiskVerdict != "OK" ||
		!cb.Coverage.Covered || cb.Coverage.CoveredAmount != 1000 || cb.Coverage.Reason != "screened_ok" {
		t.Fatalf("chargeback: %d %+v", resp.StatusCode, cb)
	}

	got := receiver.byType(t, "payment.authorized", "chargeback.created")
	for typ, req := range got {
		if err := verify.WebhookSignature(endpoint.Secret, req.signature, req.body, 0, time.Now()); err != nil {
			t.Errorf("%s: signature does not verify: %v", typ, err)
		}
		if strings.Contains(string(req.body), strings.ReplaceAll(sandbox.Card3DSUnavailable, " ", "")) {
			t.Errorf("%s carries the card number: %s", typ, req.body)
		}
	}
	var authorized, charged struct {
		ID   string `json:"id"`
		Data struct {
			ID            string                `json:"id"`
			PaymentID     string                `json:"payment_id"`
			PaymentMethod *verify.PaymentMethod `json:"payment_method"`
		} `json:"data"`
	}
	json.Unmarshal(got["payment.authorized"].body, &authorized)
	json.Unmarshal(got["chargeback.created"].body, &charged)
	if authorized.Data.ID != sess.Payment.ID || charged.Data.ID != cb.ID || charged.Data.PaymentID != sess.Payment.ID ||
		authorized.Data.PaymentMethod == nil || *authorized.Data.PaymentMethod != (verify.PaymentMethod{Type: "lump_sum", JCCACode: "10"}) {
		t.Fatalf("event data: %s\n%s", got["payment.authorized"].body, got["chargeback.created"].body)
	}

	// The delivery log says so too, and the guarantee counts the chargeback.
	var log struct {
		Data []struct {
			EventType string `json:"event_type"`
			Status    string `json:"status"`
			Attempts  []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"data"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.api(t, "GET", "/v1/webhooks/deliveries", nil, &log)
		done := len(log.Data) == 2
		for _, d := range log.Data {
			done = done && d.Status == "succeeded" && len(d.Attempts) == 1 && d.Attempts[0].StatusCode == 200
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log: %+v", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var g struct {
		Used      int64 `json:"used"`
		Remaining int64 `json:"remaining"`
	}
	p.api(t, "GET", "/v1/guarantee", nil, &g)
	if g.Used != 1000 || g.Remaining != 99_000 {
		t.Fatalf("guarantee: %+v", g)
	}
	// The operator sets the merchant's cap (a term of its contract); the
	// merchant reads it.
	var merchant struct {
		ID string `json:"merchant_id"`
	}
	cmd := exec.Command(binary, "guarantee", "show", "--merchant", "mer_nosuchmerchant")
	cmd.Env = append(cmd.Environ(), e.env()...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no such merchant") {
		t.Fatalf("guarantee show of a missing merchant: %v %s", err, out)
	}
	e.operatorJSON(t, &merchant, "guarantee", "set", "--merchant", e.merchant, "--cap", "500000", "--currency", "JPY")
	var shown struct {
		YearlyCap int64 `json:"yearly_cap"`
		Used      int64 `json:"used"`
		Default   bool  `json:"default"`
	}
	e.operatorJSON(t, &shown, "guarantee", "show", "--merchant", merchant.ID)
	p.api(t, "GET", "/v1/guarantee", nil, &g)
	if shown.YearlyCap != 500_000 || shown.Used != 1000 || shown.Default || g.Remaining != 499_000 {
		t.Fatalf("after the operator's cap: shown %+v, the merchant sees %+v", shown, g)
	}
	if n := e.query(t, `SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND endpoint_id = $1`, endpoint.ID); n != 2 {
		t.Fatalf("%d deliveries succeeded in PostgreSQL; want 2", n)
	}
	if strings.Contains(string(p.Output()), endpoint.Secret) {
		t.Fatal("the webhook secret is in the program's output")
	}
}

// The development switch is off unless set, and a value that is not a
// boolean stops the start rather than guess.
func TestWebhookLoopbackSetting(t *testing.T) {
	var cfg Config
	if err := cfg.flagSet("test", io.Discard).Parse(nil); err != nil || cfg.WebhookAllowLoopback {
		t.Fatalf("default: %v %v", cfg.WebhookAllowLoopback, err)
	}
	t.Setenv("CHECKOUT_WEBHOOK_ALLOW_LOOPBACK", "true")
	cfg = Config{}
	if err := cfg.flagSet("test", io.Discard).Parse(nil); err != nil || !cfg.WebhookAllowLoopback {
		t.Fatalf("from the environment: %v %v", cfg.WebhookAllowLoopback, err)
	}
	cfg = Config{}
	if err := cfg.flagSet("test", io.Discard).Parse([]string{"-webhook-allow-loopback=false"}); err != nil || cfg.WebhookAllowLoopback {
		t.Fatalf("the flag over the environment: %v %v", cfg.WebhookAllowLoopback, err)
	}
	t.Setenv("CHECKOUT_WEBHOOK_ALLOW_LOOPBACK", "sometimes")
	cfg = Config{}
	cfg.flagSet("test", io.Discard).Parse(nil)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CHECKOUT_WEBHOOK_ALLOW_LOOPBACK") {
		t.Fatalf("Validate: %v", err)
	}
}
