package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// attackFlags are the card-testing defence's thresholds in the simulation:
// flags, which win over the environment TestMain sets to turn the limits
// off for the other tests. The challenge stays off: this client does not
// solve it, and the limits must hold whether or not a tester pays for it.
var attackFlags = []string{"-demo-addr", "",
	"-limit-ip", "6", "-limit-session", "5", "-limit-merchant", "1000",
	"-limit-card", "5", "-limit-chunk", "4",
	"-lockout-failures", "3", "-challenge-bits", "0"}

// A bounded card-testing run on loopback against two instances sharing
// PostgreSQL and Vault, with the sandbox issuer: (a) many cards from one
// IP, (b) one card with many security codes, (c) many IPs with one card.
// Each is refused past its threshold, with no authorization reaching the
// issuer past it, while ordinary shoppers in the same run still pay; the
// lockout set through one instance holds on the other.
func TestCardTestingAttackSimulation(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	start := func() *process {
		p := mustStartWith(t, filepath.Join(t.TempDir(), "data"), e.env(), attackFlags...)
		p.Merchant.APIKey, p.Shop = e.key, "https://shop.example"
		return p
	}
	a, b := start(), start()
	inst := func(i int) *process { return []*process{a, b}[i%2] } // a load balancer alternating instances

	// reached counts the attempts of one attack that reached the issuer:
	// every outcome but refused before authorization (blocked by screening
	// or the lockout, rate limited, or stopped at a 3-D Secure challenge the
	// tester cannot answer), which never carries a cvc_check.
	reached := func(prefix string) int {
		return e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
			WHERE s.order_id LIKE $1 AND (a.outcome NOT IN ('blocked', 'rate_limited', 'authentication_required') OR a.cvc_check <> '')`, prefix+"%")
	}
	challenged := func(prefix string) int {
		return e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
			WHERE s.order_id LIKE $1 AND a.outcome = 'authentication_required'`, prefix+"%")
	}
	refusedBy := func(prefix, rule string) int {
		return e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
			WHERE s.order_id LIKE $1 AND a.risk_reasons @> jsonb_build_array(jsonb_build_object('rule', $2::text))`, prefix+"%", rule)
	}

	// (a) Many cards from one IP: 12 cards, each on a new session, with
	// distinct first 12 digits (so the chunk rule is not what stops them).
	tester := clientFrom("127.0.0.10")
	var statusesA []int
	for i := range 12 {
		p := inst(i)
		st, _ := p.try(t, tester, p.mustSession(t, fmt.Sprintf("a-%02d", i)), testCard((i+1)*1000), "123")
		statusesA = append(statusesA, st)
	}
	for i, st := range statusesA[6:] {
		if st != http.StatusTooManyRequests {
			t.Errorf("(a) card %d past the IP limit: %d, want 429 (all %v)", i+7, st, statusesA)
		}
	}
	// (b) One card, many security codes, from a new IP, session and email
	// each time (so that screening finds nothing to challenge, and only the
	// lockout can stop it), alternating instances.
	var statusesB []int
	for i := range 8 {
		p := inst(i)
		st, _ := p.try(t, clientFrom(fmt.Sprintf("127.0.1.%d", i+1)), p.mustSessionFor(t, fmt.Sprintf("b-%02d", i), fmt.Sprintf("b-%02d@example.jp", i)), sandbox.CardJCB, fmt.Sprintf("%03d", 900+i))
		statusesB = append(statusesB, st)
	}
	// The right code now, on the instance that did not see the third failure.
	p := inst(3)
	st, _ := p.try(t, clientFrom("127.0.1.100"), p.mustSessionFor(t, "b-right", "b-right@example.jp"), sandbox.CardJCB, sandbox.CorrectCode)
	statusesB = append(statusesB, st)
	for i, st := range statusesB {
		if st != http.StatusPaymentRequired { // the decline's answer, whether the issuer or the lock said no
			t.Errorf("(b) try %d: %d, want 402 (all %v)", i+1, st, statusesB)
		}
	}
	// (c) One card from many IPs, each on a new session.
	var statusesC []int
	card := testCard(4_242_000)
	for i := range 10 {
		p := inst(i)
		st, _ := p.try(t, clientFrom(fmt.Sprintf("127.0.2.%d", i+1)), p.mustSession(t, fmt.Sprintf("c-%02d", i)), card, "123")
		statusesC = append(statusesC, st)
	}
	for i, st := range statusesC[5:] {
		if st != http.StatusTooManyRequests {
			t.Errorf("(c) try %d past the card limit: %d, want 429 (all %v)", i+6, st, statusesC)
		}
	}

	// Nothing past the thresholds reached the issuer.
	ra, rb, rc := reached("a-"), reached("b-"), reached("c-")
	t.Logf("reached the issuer: (a) %d of 12 (IP limit 6), (b) %d of 9 (lockout after 3), (c) %d of 10 (card limit 5)", ra, rb, rc)
	t.Logf("refused: (a) %d by ratelimit.ip, (b) %d by lockout.cvc, (c) %d by ratelimit.card",
		refusedBy("a-", "ratelimit.ip"), refusedBy("b-", "lockout.cvc"), refusedBy("c-", "ratelimit.card"))
	t.Logf("stopped at a 3-D Secure challenge the tester could not answer: (a) %d, (b) %d, (c) %d",
		challenged("a-"), challenged("b-"), challenged("c-"))
	if ra > 6 || rb != 3 || rc > 5 {
		t.Errorf("reached the issuer: (a) %d, want at most 6; (b) %d, want 3; (c) %d, want at most 5", ra, rb, rc)
	}
	if n := refusedBy("b-", "lockout.cvc"); n != 6 {
		t.Errorf("(b) %d attempts refused by lockout.cvc, want 6 (across both instances)", n)
	}
	if n := e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
		WHERE s.order_id LIKE 'a-%' AND a.outcome = 'rate_limited'`); n < 6 {
		t.Errorf("(a) %d attempts rate limited, want at least 6", n)
	}

	// Ordinary shoppers in the same run, on other networks, still pay.
	for i, number := range []string{sandbox.CardMastercard, sandbox.CardVisa} {
		p := inst(i)
		var s session
		if resp := p.api(t, "POST", "/v1/sessions", map[string]any{
			"amount": 1500, "currency": "JPY", "order_id": fmt.Sprintf("ordinary-%d", i), "success_url": p.Shop + "/done",
			"customer_email": fmt.Sprintf("hanako%d@example.jp", i),
		}, &s); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create session: %d", resp.StatusCode)
		}
		if st, _ := p.pay(t, clientFrom(fmt.Sprintf("127.0.3.%d", i+1)), s, number, sandbox.CorrectCode); st != http.StatusOK {
			t.Errorf("ordinary shopper %d: %d\n%s", i+1, st, p.Output())
		}
	}

	// The operator lists the locked card and unlocks it; then it pays.
	operator := func(args ...string) []byte {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(cmd.Environ(), e.env()...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("checkoutd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var locked struct {
		Locked []struct {
			Fingerprint string `json:"card_fingerprint"`
		} `json:"locked"`
	}
	if err := json.Unmarshal(operator("cards", "locked"), &locked); err != nil || len(locked.Locked) != 1 {
		t.Fatalf("cards locked: %+v %v", locked, err)
	}
	operator("cards", "unlock", "--fingerprint", locked.Locked[0].Fingerprint)
	var s session
	a.api(t, "POST", "/v1/sessions", map[string]any{
		"amount": 1500, "currency": "JPY", "order_id": "after-unlock", "success_url": a.Shop + "/done", "customer_email": "jcb@example.jp",
	}, &s)
	if st, _ := b.pay(t, clientFrom("127.0.4.1"), s, sandbox.CardJCB, sandbox.CorrectCode); st != http.StatusOK {
		t.Errorf("the unlocked card: %d, want 200", st)
	}
}
