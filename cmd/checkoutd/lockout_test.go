package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// Twelve wrong security codes for one card, submitted at once on twelve
// sessions from twelve addresses, split across two instances (two
// processes) sharing PostgreSQL and Vault, with every rate limit that
// could stop them off: at most the lockout's 3 reach the issuer, and the
// card ends locked.
func TestConcurrentWrongCodesHoldTheLockoutAcrossInstances(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	start := func() *process {
		p := mustStartWith(t, filepath.Join(t.TempDir(), "data"), e.env(), "-demo-addr", "",
			"-limit-ip", "0", "-limit-card", "0", "-limit-chunk", "0", "-limit-merchant", "0",
			"-lockout-failures", "3", "-challenge-bits", "0")
		p.Merchant.APIKey, p.Shop = e.key, "https://shop.example"
		return p
	}
	a, b := start(), start()
	const n = 12
	type shopper struct {
		p      *process
		client *http.Client
		s      session
		csrf   string
	}
	shoppers := make([]shopper, n)
	for i := range shoppers {
		p := []*process{a, b}[i%2]
		sh := shopper{p: p, client: clientFrom(fmt.Sprintf("127.0.5.%d", i+1))}
		sh.s = p.mustSessionFor(t, fmt.Sprintf("race-%02d", i), fmt.Sprintf("race-%02d@example.jp", i))
		sh.csrf = csrfToken(t, sh.client, p.BaseURL+"/pay/"+sh.s.ID)
		shoppers[i] = sh
	}
	statuses := make([]int, n)
	answers := make([]paid, n)
	errs := make([]error, n)
	go1 := make(chan struct{})
	var wg sync.WaitGroup
	for i, sh := range shoppers {
		wg.Go(func() {
			<-go1
			statuses[i], answers[i], errs[i] = sh.p.postCard(sh.client, sh.s, sh.csrf,
				"number", sandbox.CardJCB, "expiry", "12/30", "name", "TEST SHOPPER", "cvc", fmt.Sprintf("%03d", 900+i))
		})
	}
	close(go1)
	wg.Wait()
	// Each is declined, or (screening having seen the first wrong codes)
	// stopped at a 3-D Secure challenge the tester cannot answer.
	for i := range statuses {
		challenged := statuses[i] == http.StatusOK && answers[i].Status == "requires_action"
		if errs[i] != nil || (statuses[i] != http.StatusPaymentRequired && !challenged) {
			t.Errorf("submission %d: %d %+v %v; want 402 or a challenge (all %v)", i+1, statuses[i], answers[i], errs[i], statuses)
		}
	}
	// An attempt that reached the issuer carries its cvc_check; refused
	// ones (the lockout, before authorization) never do.
	reached := e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
		WHERE s.order_id LIKE 'race-%' AND (a.outcome NOT IN ('blocked', 'rate_limited', 'authentication_required') OR a.cvc_check <> '')`)
	t.Logf("%d of %d concurrent wrong codes on two instances reached the issuer", reached, n)
	if reached > 3 {
		t.Fatalf("%d of %d concurrent wrong codes reached the issuer; want at most the lockout's 3", reached, n)
	}
	if locked := e.query(t, `SELECT count(*) FROM card_locks WHERE locked_until > now()`); locked != 1 {
		t.Fatalf("%d cards locked; want the one", locked)
	}
}
