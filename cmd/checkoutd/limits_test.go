package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// limitsShown is what `checkoutd limits` prints.
type limitsShown struct {
	MerchantID  string `json:"merchant_id"`
	CardTesting map[string]struct {
		Max    int    `json:"max"`
		Window string `json:"window"`
	} `json:"card_testing"`
	Operator map[string]map[string]any `json:"operator"`
}

// limitsCommand runs `checkoutd limits ...` on the data directory; out is
// its standard output, and err non-nil when it failed, with its standard
// error in the message.
func limitsCommand(t *testing.T, dir string, args ...string) (limitsShown, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"limits", args[0], "--data-dir", dir, "--log-level", "warn"}, args[1:]...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return limitsShown{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var shown limitsShown
	if err := json.Unmarshal(out, &shown); err != nil {
		t.Fatalf("checkoutd limits %s: %q: %v", args[0], out, err)
	}
	return shown, nil
}

// The operator raises one merchant's card-testing limit with `checkoutd
// limits set` while the service runs: the running service admits that
// merchant's attempts past the platform's limit (the flag), up to the
// operator's, and the merchant sees the limit and the audit entry in its
// API. Bad input changes nothing; `limits reset` goes back to the flag.
func TestLimitsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := mustStartIn(t, dir, "-limit-merchant", "2") // the platform's: 2 attempts per merchant per minute
	id := p.Merchant.ID

	if _, err := limitsCommand(t, dir, "show", "--merchant", "mer_nosuchmerchant"); err == nil || !strings.Contains(err.Error(), "no such merchant") {
		t.Fatalf("show of a missing merchant: %v", err)
	}
	shown, err := limitsCommand(t, dir, "set", "--merchant", id, "--merchant-max", "1000000")
	if err != nil || shown.CardTesting["merchant"].Max != 1_000_000 || shown.CardTesting["merchant"].Window != "1m" {
		t.Fatalf("set --merchant-max 1000000: %+v %v", shown, err)
	}
	if shown, err = limitsCommand(t, dir, "set", "--merchant", id, "--merchant-max", "4"); err != nil || shown.CardTesting["merchant"].Max != 4 {
		t.Fatalf("set --merchant-max 4: %+v %v", shown, err)
	}
	for _, bad := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--merchant-max", "-5"}, "-merchant-max must be from 0 (off) to 1000000"},
		{[]string{"--merchant-max", "1000001"}, "-merchant-max must be from 0 (off) to 1000000"},
		{[]string{"--ip-max", "3", "--ip-window", "0s"}, "-ip-window must be from 1s to 720h"},
		{[]string{"--card-window", "soon"}, `invalid value "soon" for flag -card-window`},
		{nil, "give at least one limit to set"},
	} {
		_, err := limitsCommand(t, dir, append([]string{"set", "--merchant", id}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("set %v: %v; want an error saying %q", bad.args, err, bad.msg)
		}
	}
	if shown, err = limitsCommand(t, dir, "show", "--merchant", id); err != nil || shown.CardTesting["merchant"].Max != 4 || len(shown.Operator) != 1 {
		t.Fatalf("after refused sets: %+v %v", shown, err)
	}

	// The running service: 4 attempts at this merchant in the minute, from
	// 4 shoppers with 4 cards, pass the flag's 2; the fifth is refused.
	for i := range 5 {
		st, _ := p.pay(t, clientFrom(fmt.Sprintf("127.0.4.%d", i+1)), p.mustSession(t, fmt.Sprintf("limits-%d", i)), testCard(9000+i), "123")
		if want := map[bool]int{true: http.StatusOK, false: http.StatusTooManyRequests}[i < 4]; st != want {
			t.Fatalf("payment %d at the merchant: %d; want %d", i+1, st, want)
		}
	}

	// The merchant sees the limit in force, and the operator's changes.
	var settings struct {
		CardTesting map[string]struct {
			Max    int    `json:"max"`
			Window string `json:"window"`
		} `json:"card_testing"`
	}
	p.api(t, "GET", "/v1/risk/settings", nil, &settings)
	if m := settings.CardTesting["merchant"]; m.Max != 4 || m.Window != "1m" {
		t.Fatalf("the merchant's card_testing: %+v", settings.CardTesting)
	}
	var audit struct {
		Data []struct {
			Actor, Action string
			After         json.RawMessage
		}
	}
	p.api(t, "GET", "/v1/risk/audit", nil, &audit)
	// The oldest entry is the demo merchant's payment methods, set when it
	// was made.
	if len(audit.Data) != 3 || audit.Data[0].Action != "risk.limits.set" || audit.Data[0].Actor != "operator" ||
		string(audit.Data[0].After) != `{"merchant":{"max":4}}` || string(audit.Data[1].After) != `{"merchant":{"max":1000000}}` ||
		audit.Data[2].Action != "payment_methods.update" || audit.Data[2].Actor != "checkoutd/demo" {
		t.Fatalf("the merchant's audit log: %+v", audit.Data)
	}

	// Reset: the flag's again (the API reads the store, not the cache).
	if shown, err = limitsCommand(t, dir, "reset", "--merchant", id); err != nil || shown.Operator != nil {
		t.Fatalf("reset: %+v %v", shown, err)
	}
	p.api(t, "GET", "/v1/risk/settings", nil, &settings)
	p.api(t, "GET", "/v1/risk/audit", nil, &audit)
	if settings.CardTesting["merchant"].Max != 2 || len(audit.Data) != 4 || audit.Data[0].Action != "risk.limits.reset" || string(audit.Data[0].After) != "null" {
		t.Fatalf("after the reset: %+v, audit %+v", settings.CardTesting, audit.Data)
	}
}

// `checkoutd cards retention` counts what the vault holds by state for the
// period the flag sets, beside a running service: a card saved and one
// within the period; a bad period is refused.
func TestCardsRetentionCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := mustStartIn(t, dir)
	var cus struct {
		ID string `json:"id"`
	}
	p.api(t, "POST", "/v1/customers", map[string]any{}, &cus)
	var s session
	p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "retention",
		"success_url": p.Shop + "/done", "customer": cus.ID, "save_card": "required"}, &s)
	if status, paid := p.submit(t, http.DefaultClient, s, "number", "4242424242424242", "expiry", "12/30", "name", "TARO", "cvc", "123"); status != 200 || paid.Status != "paid" {
		t.Fatalf("saving payment: %d %+v", status, paid)
	}
	other := p.mustSession(t, "retention-2")
	if status, _ := p.submit(t, http.DefaultClient, other, "number", "5555555555554444", "expiry", "12/30", "name", "TARO", "cvc", "123"); status != 200 {
		t.Fatalf("a payment that saves nothing: %d", status)
	}
	out, err := exec.Command(binary, "cards", "retention", "--data-dir", dir, "--log-level", "warn", "--card-retention", "48h").Output()
	var report struct {
		Retention    string `json:"retention"`
		Saved        int    `json:"saved"`
		WithinPeriod int    `json:"within_period"`
		Due          int    `json:"due"`
		Erased       int    `json:"erased"`
	}
	if err != nil || json.Unmarshal(out, &report) != nil {
		t.Fatalf("cards retention: %v: %s", err, out)
	}
	if report.Retention != "48h0m0s" || report.Saved != 1 || report.WithinPeriod != 1 || report.Due != 0 || report.Erased != 0 {
		t.Fatalf("the report: %+v", report)
	}
	if out, err := exec.Command(binary, "cards", "retention", "--data-dir", dir, "--card-retention", "1m").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "-card-retention") {
		t.Fatalf("a period of a minute: %v: %s", err, out)
	}
}
